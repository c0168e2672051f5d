//! Live facts by key and by matched value, so a rule that asks "which live fact holds this?"
//! reads the few facts that could answer rather than folding every value of the memory (an
//! add used to fold each value of its key for a match: thousands per add for a long-lived
//! user, and the same again for every like when a dislike came in).
//!
//! The index is derived from the live facts and never stored: a snapshot holds the facts
//! only, and reading one rebuilds it.

use std::collections::{BTreeSet, HashMap};

use crate::values::{FactId, FactKey};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveFactIndex {
    by_key: HashMap<FactKey, BTreeSet<FactId>>,
    /// Keyed by [`crate::FactValue::match_key`], across keys.
    by_value: HashMap<String, BTreeSet<FactId>>,
}

impl LiveFactIndex {
    pub fn insert(&mut self, id: FactId, key: &FactKey, match_key: String) {
        self.by_key.entry(key.clone()).or_default().insert(id);
        self.by_value.entry(match_key).or_default().insert(id);
    }

    pub fn remove(&mut self, id: FactId, key: &FactKey, match_key: &str) {
        if let Some(ids) = self.by_key.get_mut(key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_key.remove(key);
            }
        }
        if let Some(ids) = self.by_value.get_mut(match_key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_value.remove(match_key);
            }
        }
    }

    pub fn clear(&mut self) {
        self.by_key.clear();
        self.by_value.clear();
    }

    /// The live facts under `key`, in id order.
    pub fn with_key(&self, key: &FactKey) -> impl Iterator<Item = FactId> + '_ {
        self.by_key.get(key).into_iter().flatten().copied()
    }

    /// The live facts, under any key, whose value matches `match_key`, in id order.
    pub fn with_value(&self, match_key: &str) -> impl Iterator<Item = FactId> + '_ {
        self.by_value.get(match_key).into_iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> FactKey {
        FactKey::parse(text).unwrap()
    }

    #[test]
    fn given_facts_when_one_is_removed_then_lookups_find_only_the_others() {
        let mut index = LiveFactIndex::default();
        let (kites, dragons, hated) = (FactId::generate(), FactId::generate(), FactId::generate());
        index.insert(kites, &key("likes.thing"), "kites".into());
        index.insert(dragons, &key("likes.thing"), "dragons".into());
        index.insert(hated, &key("dislikes.thing"), "kites".into());

        let mut both = vec![kites, hated];
        both.sort();
        assert_eq!(index.with_value("kites").collect::<Vec<_>>(), both);
        assert_eq!(index.with_key(&key("likes.thing")).count(), 2);

        index.remove(kites, &key("likes.thing"), "kites");
        assert_eq!(index.with_value("kites").collect::<Vec<_>>(), [hated]);
        assert_eq!(
            index.with_key(&key("likes.thing")).collect::<Vec<_>>(),
            [dragons]
        );
        index.clear();
        assert_eq!(index, LiveFactIndex::default());
    }
}
