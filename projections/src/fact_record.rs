//! How events become live fact rows. One pure fold serves the `facts` projection and the
//! "facts as of a time" query, so the two can never disagree.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pika_domain::{FactSource, UserMemoryEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A live fact as the read side shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactRecord {
    pub fact_id: Uuid,
    pub user_id: String,
    pub key: String,
    pub kind: String,
    pub value: String,
    pub text: String,
    pub confidence: f64,
    pub language: String,
    pub source: FactSourceRecord,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which job and which of its messages stated the fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactSourceRecord {
    pub job_id: Option<Uuid>,
    pub message_indexes: Vec<i32>,
}

impl From<&FactSource> for FactSourceRecord {
    fn from(source: &FactSource) -> Self {
        Self {
            job_id: source.job_id.map(|j| j.as_uuid()),
            message_indexes: source
                .message_indexes
                .iter()
                .map(|i| i32::try_from(*i).unwrap_or(i32::MAX))
                .collect(),
        }
    }
}

/// What one event does to the live facts.
#[derive(Debug, Clone, PartialEq)]
pub enum FactChange {
    Insert(FactRecord),
    Update {
        fact_id: Uuid,
        /// Unchanged by an update; carried because the fact's vector is found by key and text.
        key: String,
        value: String,
        text: String,
        confidence: f64,
        source: FactSourceRecord,
        version: i32,
        updated_at: DateTime<Utc>,
    },
    Remove {
        fact_id: Uuid,
    },
}

/// The embedding cache's key for a fact's vector: SHA-256 of its passage
/// ([`pika_domain::fact_passage`]), as the worker stored it.
pub(crate) fn fact_vector_digest(key: &str, text: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(pika_domain::fact_passage(key, text).as_bytes()).to_vec()
}

/// Every key of the embedding cache a fact's vector may sit under: its passage's, and its bare
/// text's, where releases before facts were embedded with their key stored it. Forgetting a
/// user deletes both, so an upgraded store keeps nothing of theirs.
pub(crate) fn fact_cache_keys(key: &str, text: &str) -> [Vec<u8>; 2] {
    use sha2::Digest;
    [
        fact_vector_digest(key, text),
        sha2::Sha256::digest(text.as_bytes()).to_vec(),
    ]
}

pub fn fact_change(
    user_id: &str,
    event: &UserMemoryEvent,
    at: DateTime<Utc>,
) -> Option<FactChange> {
    match event {
        UserMemoryEvent::FactAdded {
            fact_id,
            key,
            kind,
            value,
            text,
            confidence,
            language,
            source,
        } => Some(FactChange::Insert(FactRecord {
            fact_id: fact_id.as_uuid(),
            user_id: user_id.to_owned(),
            key: key.to_string(),
            kind: kind.as_str().to_owned(),
            value: value.to_string(),
            text: text.to_string(),
            confidence: confidence.value(),
            language: language.to_string(),
            source: source.into(),
            version: 1,
            created_at: at,
            updated_at: at,
        })),
        UserMemoryEvent::FactUpdated {
            fact_id,
            key,
            new_value,
            text,
            confidence,
            source,
            version,
            ..
        } => Some(FactChange::Update {
            fact_id: fact_id.as_uuid(),
            key: key.to_string(),
            value: new_value.to_string(),
            text: text.to_string(),
            confidence: confidence.value(),
            source: source.into(),
            version: i32::try_from(*version).unwrap_or(i32::MAX),
            updated_at: at,
        }),
        UserMemoryEvent::FactRetracted { fact_id, .. } => Some(FactChange::Remove {
            fact_id: fact_id.as_uuid(),
        }),
        UserMemoryEvent::ExtractionApplied { .. } | UserMemoryEvent::UserForgotten { .. } => None,
    }
}

impl FactChange {
    /// Applies an `Update` to the fact's record; other changes do not edit a record.
    pub fn apply_to(self, record: &mut FactRecord) {
        if let Self::Update {
            value,
            text,
            confidence,
            source,
            version,
            updated_at,
            ..
        } = self
        {
            record.value = value;
            record.text = text;
            record.confidence = confidence;
            record.source = source;
            record.version = version;
            record.updated_at = updated_at;
        }
    }
}

/// Applies a change to an in-memory set of live facts.
pub fn apply_change(facts: &mut BTreeMap<Uuid, FactRecord>, change: FactChange) {
    match change {
        FactChange::Insert(record) => {
            facts.insert(record.fact_id, record);
        }
        update @ FactChange::Update { fact_id, .. } => {
            if let Some(record) = facts.get_mut(&fact_id) {
                update.apply_to(record);
            }
        }
        FactChange::Remove { fact_id } => {
            facts.remove(&fact_id);
        }
    }
}
