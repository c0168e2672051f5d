//! Turning stored rows back into typed events.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use pika_domain::{
    ExtractionJob, ExtractionJobEvent, TenantId, UserId, UserMemory, UserMemoryEvent,
};

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

/// When the event was committed, from its metadata. Events written without a time (by hand,
/// in tests) get the epoch, so replaying them always gives the same rows.
pub fn committed_at(event: &RecordedEvent) -> DateTime<Utc> {
    event
        .metadata
        .get("time")
        .and_then(|t| t.as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc))
}

fn split_id(event: &RecordedEvent) -> Result<(&str, &str), ProjectionError> {
    event
        .aggregate_id
        .split_once('/')
        .ok_or_else(|| ProjectionError::corrupt(event, "aggregate id has no tenant"))
}

/// Decodes an event; `None` for aggregate types no projection reads.
///
/// Every stored version is "1.0" today; a later payload change adds its upcast here, before
/// the typed decode, so old events are never rewritten.
pub fn decode(event: &RecordedEvent) -> Result<Option<DomainEvent>, ProjectionError> {
    let decoded = if event.aggregate_type == UserMemory::TYPE {
        let (tenant, user) = split_id(event)?;
        DomainEvent::UserMemory {
            tenant: TenantId::parse(tenant).map_err(|e| ProjectionError::corrupt(event, e))?,
            user_id: UserId::parse(user).map_err(|e| ProjectionError::corrupt(event, e))?,
            event: serde_json::from_value(event.payload.clone())
                .map_err(|e| ProjectionError::corrupt(event, e))?,
        }
    } else if event.aggregate_type == ExtractionJob::TYPE {
        let (tenant, job) = split_id(event)?;
        DomainEvent::ExtractionJob {
            tenant: TenantId::parse(tenant).map_err(|e| ProjectionError::corrupt(event, e))?,
            job_id: job
                .parse()
                .map_err(|e| ProjectionError::corrupt(event, e))?,
            event: serde_json::from_value(event.payload.clone())
                .map_err(|e| ProjectionError::corrupt(event, e))?,
        }
    } else {
        return Ok(None);
    };
    Ok(Some(decoded))
}
