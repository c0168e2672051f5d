//! Turning stored rows back into typed events.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use pika_domain::{
    ExtractionJob, ExtractionJobEvent, TenantId, UserId, UserMemory, UserMemoryEvent,
};
use serde::de::DeserializeOwned;

use crate::ProjectionError;
use crate::event_log::RecordedEvent;

/// A decoded event of one of our aggregates.
#[derive(Debug, Clone)]
pub enum DomainEvent {
    UserMemory {
        tenant: TenantId,
        user_id: UserId,
        event: UserMemoryEvent,
    },
    ExtractionJob {
        tenant: TenantId,
        job_id: uuid::Uuid,
        event: ExtractionJobEvent,
    },
}

/// A stored payload, either already parsed (the daemon's batches) or as the database's text
/// (a rebuild: parsing text straight into the typed event skips building a JSON tree, which
/// is most of the cost of reading the log).
pub trait Payload {
    fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T>;
}

impl Payload for serde_json::Value {
    fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        T::deserialize(self)
    }
}

impl Payload for str {
    fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self)
    }
}

/// When the event was committed, from its metadata. Events written without a time (by hand,
/// in tests) get the epoch, so replaying them always gives the same rows.
pub fn committed_at(event: &RecordedEvent) -> DateTime<Utc> {
    parse_commit_time(event.metadata.get("time").and_then(|t| t.as_str()))
}

/// Times are kept to the microsecond, as Postgres keeps them (and as sqlx binds them there),
/// so both backends store the same instants and a rebuilt row equals the live one.
pub fn stored_time(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    at.trunc_subsecs(6)
}

/// The commit time from the metadata's `time` text (see [`committed_at`]).
pub fn parse_commit_time(time: Option<&str>) -> DateTime<Utc> {
    time.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

/// Decodes an event; `None` for aggregate types no projection reads.
/// A shredded event decodes with placeholders for its personal fields; whether a projection
/// applies it at all is [`crate::projection::sees`].
pub fn decode(event: &RecordedEvent) -> Result<Option<DomainEvent>, ProjectionError> {
    decode_parts(
        &event.aggregate_type,
        &event.aggregate_id,
        &event.payload,
        event.position.global_position,
    )
}

/// Decodes an event from its stored columns.
///
/// Every stored version is "1.0" today; a later payload change adds its upcast here, before
/// the typed decode, so old events are never rewritten.
pub fn decode_parts(
    aggregate_type: &str,
    aggregate_id: &str,
    payload: &(impl Payload + ?Sized),
    position: i64,
) -> Result<Option<DomainEvent>, ProjectionError> {
    let corrupt = |detail: &dyn std::fmt::Display| ProjectionError::Corrupt {
        position,
        detail: detail.to_string(),
    };
    let is_user_memory = aggregate_type == UserMemory::TYPE;
    if !is_user_memory && aggregate_type != ExtractionJob::TYPE {
        return Ok(None);
    }
    let (tenant, id) = aggregate_id
        .split_once('/')
        .ok_or_else(|| corrupt(&"aggregate id has no tenant"))?;
    let tenant = TenantId::parse(tenant).map_err(|e| corrupt(&e))?;
    let decoded = if is_user_memory {
        DomainEvent::UserMemory {
            tenant,
            user_id: UserId::parse(id).map_err(|e| corrupt(&e))?,
            event: payload.parse().map_err(|e| corrupt(&e))?,
        }
    } else {
        DomainEvent::ExtractionJob {
            tenant,
            job_id: id.parse().map_err(|e| corrupt(&e))?,
            event: payload.parse().map_err(|e| corrupt(&e))?,
        }
    };
    Ok(Some(decoded))
}
