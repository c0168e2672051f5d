//! The OpenAPI shapes of what the read side sends. The rows themselves (`pika_projections`)
//! are serialised as they are — search and favourites answers are even cached as JSON bytes —
//! so these types only describe them, and the read side stays free of HTTP documentation.
//! A test below checks every described field against a serialised row, and the schemathesis
//! run checks real answers against the document.
#![allow(
    dead_code,
    reason = "schema descriptions of JSON the read side serialises"
)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use utoipa::ToSchema;
use uuid::Uuid;

/// A live fact.
#[derive(ToSchema)]
pub struct FactRecord {
    fact_id: Uuid,
    user_id: String,
    key: String,
    kind: String,
    value: String,
    text: String,
    confidence: f64,
    language: String,
    source: FactSourceRecord,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One turn of a conversation, as it was said.
#[derive(ToSchema)]
pub struct EpisodeRecord {
    episode_id: Uuid,
    job_id: Uuid,
    message_index: i32,
    /// `user`, `assistant` or `system`.
    role: String,
    /// The speaker's name, when the client gave one.
    name: Option<String>,
    content: String,
    occurred_at: DateTime<Utc>,
}

/// Which job and which of its messages stated the fact.
#[derive(ToSchema)]
pub struct FactSourceRecord {
    job_id: Option<Uuid>,
    message_indexes: Vec<i32>,
}

/// One version of a fact: the event that made it, and who and what caused it.
#[derive(ToSchema)]
pub struct FactVersion {
    event: String,
    sequence: i64,
    key: String,
    old_value: Option<String>,
    value: String,
    text: Option<String>,
    reason: Option<serde_json::Value>,
    source: Option<FactSourceRecord>,
    at: DateTime<Utc>,
    actor: Option<String>,
    correlation_id: Option<String>,
    global_position: i64,
}

/// Every version of one fact, oldest first.
#[derive(ToSchema)]
pub struct FactHistory {
    fact_id: Uuid,
    user_id: String,
    versions: Vec<FactVersion>,
}

/// Favourites by topic, likes and dislikes by topic, and how many facts are live.
#[derive(ToSchema)]
pub struct FavoriteSummary {
    favorites: BTreeMap<String, String>,
    likes: BTreeMap<String, Vec<String>>,
    dislikes: BTreeMap<String, Vec<String>>,
    live_facts: i32,
}

/// A user's favourites, likes and dislikes by topic; empty for a user with no facts yet.
#[derive(ToSchema)]
pub struct FavoriteSummaryView {
    user_id: String,
    #[serde(flatten)]
    summary: FavoriteSummary,
    last_changed_at: Option<DateTime<Utc>>,
}

/// A job as a client sees it.
#[derive(ToSchema)]
pub struct JobView {
    job_id: Uuid,
    user_id: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    submitted_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    result: JobResult,
}

#[derive(ToSchema)]
pub struct JobResult {
    added: i32,
    updated: i32,
    retracted: i32,
    unchanged: i32,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use pika_projections::fact_record::FactRecord as Row;
    use utoipa::PartialSchema;
    use utoipa::openapi::{RefOr, Schema};

    fn described<T: PartialSchema>() -> BTreeSet<String> {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
            _ => panic!("not an object schema"),
        }
    }

    fn sent(value: &impl serde::Serialize) -> BTreeSet<String> {
        match serde_json::to_value(value).unwrap() {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    fn row() -> Row {
        Row {
            fact_id: uuid::Uuid::nil(),
            user_id: "kid".into(),
            key: "pet.dog".into(),
            kind: "relationship".into(),
            value: "Max".into(),
            text: "has a dog called Max".into(),
            confidence: 0.9,
            language: "en".into(),
            source: pika_projections::fact_record::FactSourceRecord {
                job_id: None,
                message_indexes: vec![0],
            },
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn every_field_a_row_sends_is_described_and_nothing_more() {
        let row = row();
        assert_eq!(described::<super::FactRecord>(), sent(&row));
        assert_eq!(described::<super::FactSourceRecord>(), sent(&row.source));
        let job = pika_projections::jobs::JobView::queued(uuid::Uuid::nil(), "kid".into());
        assert_eq!(described::<super::JobView>(), sent(&job));
        assert_eq!(described::<super::JobResult>(), sent(&job.result));
        let summary = pika_projections::favorite_summary::FavoriteSummary::default();
        assert_eq!(described::<super::FavoriteSummary>(), sent(&summary));
        let history = pika_projections::history::FactHistory {
            fact_id: uuid::Uuid::nil(),
            user_id: "kid".into(),
            versions: vec![],
        };
        assert_eq!(described::<super::FactHistory>(), sent(&history));
        let episode = pika_projections::episodes::EpisodeRecord {
            episode_id: uuid::Uuid::nil(),
            job_id: uuid::Uuid::nil(),
            message_index: 0,
            role: "user".into(),
            name: Some("Caroline".into()),
            content: "I went to a support group yesterday".into(),
            occurred_at: chrono::Utc::now(),
        };
        assert_eq!(described::<super::EpisodeRecord>(), sent(&episode));
    }

    #[test]
    fn a_fact_version_is_described_field_for_field() {
        let version = pika_projections::history::FactVersion {
            event: "FactAdded".into(),
            sequence: 1,
            key: "pet.dog".into(),
            old_value: None,
            value: "Max".into(),
            text: None,
            reason: None,
            source: None,
            at: chrono::Utc::now(),
            actor: None,
            correlation_id: None,
            global_position: 1,
        };
        assert_eq!(described::<super::FactVersion>(), sent(&version));
    }
}
