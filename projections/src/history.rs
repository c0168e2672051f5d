//! Questions answered from the event store and the read models: a fact's audit trail, a
//! user's facts now or at a past time, and a job's status.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pika_domain::{TenantId, UserId, UserMemoryEvent, user_memory_id};
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::committed_at;
use crate::event_log::RecordedEvent;
use crate::fact_record::{FactRecord, FactSourceRecord, apply_change, fact_change};

/// One version of a fact: the event that made it, and who and what caused it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FactHistory {
    pub fact_id: Uuid,
    pub user_id: String,
    pub versions: Vec<FactVersion>,
}

/// The sequence of the user's last `UserForgotten` (0 when never forgotten). What a user asked
/// to be forgotten is never served again: history and "as of" queries read only what came
/// after, though the events stay in the log (see the README on forgetting).
const AFTER_LAST_FORGET: &str = "COALESCE((SELECT max(f.sequence) FROM events f
        WHERE f.aggregate_type = 'UserMemory' AND f.aggregate_id = e.aggregate_id
          AND f.event_type = 'UserForgotten'), 0)";

const EVENT_COLUMNS: &str = "transaction_id::text::bigint AS transaction_id, global_position,
    aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

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

/// The audit trail of a fact of this tenant; `None` when the tenant has no such fact.
pub async fn fact_history(
    pool: &PgPool,
    tenant: &TenantId,
    fact_id: Uuid,
) -> Result<Option<FactHistory>, ProjectionError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events e
          WHERE aggregate_type = 'UserMemory'
            AND ((payload -> event_type) ->> 'fact_id') = $1
            AND starts_with(aggregate_id, $2)
            AND sequence > {AFTER_LAST_FORGET}
          ORDER BY sequence"
    ))
    .bind(fact_id.to_string())
    .bind(format!("{tenant}/"))
    .fetch_all(pool)
    .await?;
    let events = rows
        .iter()
        .map(crate::event_log::recorded_event)
        .collect::<Result<Vec<_>, _>>()?;
    history_from_events(fact_id, &events)
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

/// A user's live facts as they stood at `as_of`, replayed from the event store.
pub async fn facts_as_of(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    as_of: DateTime<Utc>,
) -> Result<Vec<FactRecord>, ProjectionError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events e
          WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1
            AND sequence > {AFTER_LAST_FORGET}
          ORDER BY sequence"
    ))
    .bind(user_memory_id(tenant, user))
    .fetch_all(pool)
    .await?;
    let events = rows
        .iter()
        .map(crate::event_log::recorded_event)
        .collect::<Result<Vec<_>, _>>()?;
    facts_as_of_events(user, &events, as_of)
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

/// A user's live facts from the `facts` read model, by key, age and id: one job adds several
/// facts at one commit time, and the id makes the list the same on every read.
pub async fn live_facts(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Vec<FactRecord>, ProjectionError> {
    let rows = sqlx::query(
        "SELECT fact_id, user_id, key, kind, value, text, confidence, language, source_job_id,
                source_messages, version, created_at, updated_at
           FROM facts WHERE tenant = $1 AND user_id = $2
          ORDER BY key, created_at, fact_id",
    )
    .bind(tenant.as_str())
    .bind(user.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(fact_from_row)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ProjectionError::from)
}

/// One live fact of this tenant from the `facts` read model.
pub async fn live_fact(
    pool: &PgPool,
    tenant: &TenantId,
    fact_id: Uuid,
) -> Result<Option<FactRecord>, ProjectionError> {
    let row = sqlx::query(
        "SELECT fact_id, user_id, key, kind, value, text, confidence, language, source_job_id,
                source_messages, version, created_at, updated_at
           FROM facts WHERE tenant = $1 AND fact_id = $2",
    )
    .bind(tenant.as_str())
    .bind(fact_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref()
        .map(fact_from_row)
        .transpose()
        .map_err(ProjectionError::from)
}

/// A `facts` row (its record columns) as a record; shared by every Postgres reader of facts.
pub(crate) fn fact_from_row(row: &sqlx::postgres::PgRow) -> Result<FactRecord, sqlx::Error> {
    Ok(FactRecord {
        fact_id: row.try_get("fact_id")?,
        user_id: row.try_get("user_id")?,
        key: row.try_get("key")?,
        kind: row.try_get("kind")?,
        value: row.try_get("value")?,
        text: row.try_get("text")?,
        confidence: row.try_get("confidence")?,
        language: row.try_get("language")?,
        source: FactSourceRecord {
            job_id: row.try_get("source_job_id")?,
            message_indexes: row.try_get("source_messages")?,
        },
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A user's favourites, likes and dislikes by topic (the L2 read model); empty for a user
/// with no facts yet.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FavoriteSummaryView {
    pub user_id: String,
    #[serde(flatten)]
    pub summary: crate::favorite_summary::FavoriteSummary,
    pub last_changed_at: Option<DateTime<Utc>>,
}

pub async fn favorite_summary(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
) -> Result<FavoriteSummaryView, ProjectionError> {
    let row: Option<(
        serde_json::Value,
        serde_json::Value,
        serde_json::Value,
        i32,
        DateTime<Utc>,
    )> = sqlx::query_as(
        "SELECT favorites, likes, dislikes, live_facts, last_changed_at
               FROM user_favorite_summary WHERE tenant = $1 AND user_id = $2",
    )
    .bind(tenant.as_str())
    .bind(user.as_str())
    .fetch_optional(pool)
    .await?;
    let corrupt = |e: serde_json::Error| ProjectionError::Corrupt {
        position: 0,
        detail: format!("user_favorite_summary: {e}"),
    };
    let (summary, last_changed_at) = match row {
        Some((favorites, likes, dislikes, live_facts, at)) => (
            crate::favorite_summary::FavoriteSummary {
                favorites: serde_json::from_value(favorites).map_err(corrupt)?,
                likes: serde_json::from_value(likes).map_err(corrupt)?,
                dislikes: serde_json::from_value(dislikes).map_err(corrupt)?,
                live_facts,
            },
            Some(at),
        ),
        None => (crate::favorite_summary::FavoriteSummary::default(), None),
    };
    Ok(FavoriteSummaryView {
        user_id: user.to_string(),
        summary,
        last_changed_at,
    })
}
