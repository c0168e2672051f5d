//! The per-user favourites summary (the L2 read model), maintained from events alone.

use std::collections::BTreeMap;

use pika_domain::{FactKey, UserMemoryEvent};
use serde::{Deserialize, Serialize};

/// Favourites by topic, likes and dislikes by topic, and how many facts are live.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FavoriteSummary {
    pub favorites: BTreeMap<String, String>,
    pub likes: BTreeMap<String, Vec<String>>,
    pub dislikes: BTreeMap<String, Vec<String>>,
    pub live_facts: i32,
}

/// Keys without a topic (`likes`) are filed under this one.
const GENERAL_TOPIC: &str = "general";

fn topic(key: &FactKey) -> String {
    match key.topic() {
        "" => GENERAL_TOPIC.to_owned(),
        topic => topic.to_owned(),
    }
}

impl FavoriteSummary {
    /// Applies one event; false when the event does not touch the summary.
    pub fn apply(&mut self, event: &UserMemoryEvent) -> bool {
        match event {
            UserMemoryEvent::FactAdded { key, value, .. } => {
                self.live_facts += 1;
                self.place(key, value.as_str());
            }
            UserMemoryEvent::FactUpdated {
                key,
                old_value,
                new_value,
                ..
            } => {
                self.remove(key, old_value.as_str());
                self.place(key, new_value.as_str());
            }
            UserMemoryEvent::FactRetracted { key, value, .. } => {
                self.live_facts = (self.live_facts - 1).max(0);
                self.remove(key, value.as_str());
            }
            UserMemoryEvent::UserForgotten { .. } => *self = Self::default(),
            UserMemoryEvent::ExtractionApplied { .. } => return false,
        }
        true
    }

    fn place(&mut self, key: &FactKey, value: &str) {
        let list = match key.family() {
            "favorite" => {
                self.favorites.insert(topic(key), value.to_owned());
                return;
            }
            "likes" => self.likes.entry(topic(key)).or_default(),
            "dislikes" => self.dislikes.entry(topic(key)).or_default(),
            _ => return,
        };
        if !list.iter().any(|v| v == value) {
            list.push(value.to_owned());
        }
    }

    fn remove(&mut self, key: &FactKey, value: &str) {
        let topic = topic(key);
        let lists = match key.family() {
            "favorite" => {
                if self.favorites.get(&topic).is_some_and(|v| v == value) {
                    self.favorites.remove(&topic);
                }
                return;
            }
            "likes" => &mut self.likes,
            "dislikes" => &mut self.dislikes,
            _ => return,
        };
        if let Some(list) = lists.get_mut(&topic) {
            list.retain(|v| v != value);
            if list.is_empty() {
                lists.remove(&topic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pika_domain::*;

    fn added(key: &str, value: &str) -> UserMemoryEvent {
        UserMemoryEvent::FactAdded {
            fact_id: FactId::generate(),
            key: FactKey::parse(key).unwrap(),
            kind: FactKey::parse(key).unwrap().kind(),
            value: FactValue::parse(value).unwrap(),
            text: FactText::parse("t").unwrap(),
            confidence: Confidence::CERTAIN,
            language: Language::parse("vi").unwrap(),
            source: FactSource::default(),
        }
    }

    #[test]
    fn favourites_likes_and_dislikes_follow_the_events() {
        let mut summary = FavoriteSummary::default();
        summary.apply(&added("favorite.food", "phở"));
        summary.apply(&added("likes.food", "pizza"));
        summary.apply(&added("likes.food", "kem"));
        summary.apply(&added("dislikes.food", "broccoli"));
        summary.apply(&UserMemoryEvent::FactUpdated {
            fact_id: FactId::generate(),
            key: FactKey::parse("favorite.food").unwrap(),
            old_value: FactValue::parse("phở").unwrap(),
            new_value: FactValue::parse("bún chả").unwrap(),
            text: FactText::parse("t").unwrap(),
            confidence: Confidence::CERTAIN,
            source: FactSource::default(),
            version: 2,
        });
        summary.apply(&UserMemoryEvent::FactRetracted {
            fact_id: FactId::generate(),
            key: FactKey::parse("likes.food").unwrap(),
            value: FactValue::parse("pizza").unwrap(),
            reason: RetractReason::Negated,
        });
        assert_eq!(summary.favorites["food"], "bún chả");
        assert_eq!(summary.likes["food"], vec!["kem".to_owned()]);
        assert_eq!(summary.dislikes["food"], vec!["broccoli".to_owned()]);
        assert_eq!(summary.live_facts, 3);
        assert!(summary.apply(&UserMemoryEvent::UserForgotten { facts_retracted: 3 }));
        assert_eq!(summary, FavoriteSummary::default());
    }
}
