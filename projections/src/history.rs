//! Questions answered from the event store and the read models: a fact's audit trail, a
//! user's facts now or at a past time, and a job's status.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pika_domain::{UserId, UserMemoryEvent};
use serde::Serialize;
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::committed_at;
use crate::event_log::RecordedEvent;
use crate::fact_record::{FactRecord, FactSourceRecord, apply_change, fact_change};

/// One version of a fact: the event that made it, and who and what caused it.
#[derive(Debug, Clone, Serialize)]
pub struct FactVersion {
    pub event: String,
    pub sequence: i64,
    pub key: String,
    pub old_value: Option<String>,
    pub value: String,
    pub text: Option<String>,
    pub reason: Option<serde_json::Value>,
    pub source: Option<FactSourceRecord>,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub correlation_id: Option<String>,
    pub global_position: i64,
}

/// Every version of one fact, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct FactHistory {
    pub fact_id: Uuid,
    pub user_id: String,
    pub versions: Vec<FactVersion>,
}

fn metadata_text(event: &RecordedEvent, name: &str) -> Option<String> {
    event
        .metadata
        .get(name)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn version_of(event: &RecordedEvent, typed: UserMemoryEvent) -> Option<FactVersion> {
    let (key, old_value, value, text, reason, source) = match typed {
        UserMemoryEvent::FactAdded {
            key,
            value,
            text,
            source,
            ..
        } => (key, None, value, Some(text), None, Some((&source).into())),
        UserMemoryEvent::FactUpdated {
            key,
            old_value,
            new_value,
            text,
            source,
            ..
        } => (
            key,
            Some(old_value.to_string()),
            new_value,
            Some(text),
            None,
            Some((&source).into()),
        ),
        UserMemoryEvent::FactRetracted {
            key, value, reason, ..
        } => (
            key,
            None,
            value,
            None,
            serde_json::to_value(reason).ok(),
            None,
        ),
        UserMemoryEvent::ExtractionApplied { .. } | UserMemoryEvent::UserForgotten { .. } => {
            return None;
        }
    };
    Some(FactVersion {
        event: event.event_type.clone(),
        sequence: event.sequence,
        key: key.to_string(),
        old_value,
        value: value.to_string(),
        text: text.map(|t| t.to_string()),
        reason,
        source,
        at: committed_at(event),
        actor: metadata_text(event, "actor"),
        correlation_id: metadata_text(event, "correlation_id"),
        global_position: event.position.global_position,
    })
}

/// A fact's audit trail from its events (oldest first, after the user's last forget): one
/// step for both backends.
pub fn history_from_events(
    fact_id: Uuid,
    events: &[RecordedEvent],
) -> Result<Option<FactHistory>, ProjectionError> {
    let mut user_id = None;
    let mut versions = Vec::new();
    for event in events {
        let typed: UserMemoryEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ProjectionError::corrupt(event, e))?;
        user_id.get_or_insert_with(|| {
            event
                .aggregate_id
                .split_once('/')
                .map_or_else(String::new, |(_, u)| u.to_owned())
        });
        versions.extend(version_of(event, typed));
    }
    Ok(user_id.map(|user_id| FactHistory {
        fact_id,
        user_id,
        versions,
    }))
}

/// The facts live at `as_of` from the user's events in sequence order: one step for both
/// backends.
pub fn facts_as_of_events(
    user: &UserId,
    events: &[RecordedEvent],
    as_of: DateTime<Utc>,
) -> Result<Vec<FactRecord>, ProjectionError> {
    let mut facts = BTreeMap::new();
    for event in events {
        let at = committed_at(event);
        if at > as_of {
            break;
        }
        let typed: UserMemoryEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ProjectionError::corrupt(event, e))?;
        if let Some(change) = fact_change(user.as_str(), &typed, at) {
            apply_change(&mut facts, change);
        }
    }
    let mut list: Vec<FactRecord> = facts.into_values().collect();
    list.sort_by(|a, b| a.key.cmp(&b.key).then(a.created_at.cmp(&b.created_at)));
    Ok(list)
}

/// A user's favourites, likes and dislikes by topic (the L2 read model); empty for a user
/// with no facts yet.
#[derive(Debug, Clone, Serialize)]
pub struct FavoriteSummaryView {
    pub user_id: String,
    #[serde(flatten)]
    pub summary: crate::favorite_summary::FavoriteSummary,
    pub last_changed_at: Option<DateTime<Utc>>,
}
