//! Episodic memory: every message of a submitted conversation kept as it was said, with its
//! speaker and time. Facts are what the extractor distilled; episodes are what the user
//! actually said, so a question the extractor had no rule for still finds its answer.
//!
//! A projection of the jobs' `Submitted` events (the conversation is already in the log), in
//! both modes; forgetting the user empties it, and a rebuild replays it like any read model.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::{ExtractionJobEvent, Role, UserMemoryEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::{DomainEvent, committed_at, stored_time};
use crate::event_log::{LogPosition, RecordedEvent};
use crate::projection::{ChangedUser, Projection, RebuildFold, TableSet, changed};
use crate::writes::ReadModelWrites;

/// One turn of a conversation, as the read side shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    pub episode_id: Uuid,
    pub job_id: Uuid,
    pub message_index: i32,
    pub role: String,
    pub name: Option<String>,
    pub content: String,
    pub occurred_at: DateTime<Utc>,
}

/// An episode row with its owner and the position of the event that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeRow {
    pub tenant: String,
    pub user_id: String,
    pub record: EpisodeRecord,
    pub position: i64,
}

/// Where a page of a user's episodes starts: after this turn, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpisodeCursor {
    pub occurred_at: DateTime<Utc>,
    pub job_id: Uuid,
    pub message_index: i32,
}

impl EpisodeCursor {
    pub fn after(record: &EpisodeRecord) -> Self {
        Self {
            occurred_at: record.occurred_at,
            job_id: record.job_id,
            message_index: record.message_index,
        }
    }

    /// An opaque token for clients: hex of `micros:job_id:index`.
    pub fn encode(&self) -> String {
        hex_encode(
            format!(
                "{}:{}:{}",
                self.occurred_at.timestamp_micros(),
                self.job_id,
                self.message_index
            )
            .as_bytes(),
        )
    }

    /// `None` for a token this service did not hand out.
    pub fn decode(token: &str) -> Option<Self> {
        let text = String::from_utf8(hex_decode(token)?).ok()?;
        let mut parts = text.splitn(3, ':');
        let micros: i64 = parts.next()?.parse().ok()?;
        let job_id = Uuid::parse_str(parts.next()?).ok()?;
        let message_index = parts.next()?.parse().ok()?;
        Some(Self {
            occurred_at: DateTime::from_timestamp_micros(micros)?,
            job_id,
            message_index,
        })
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 256 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// Which of a user's episodes to list: a time window, a page start and a page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpisodeQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub after: Option<EpisodeCursor>,
    pub limit: u32,
}

/// The embedding cache's key of a turn's content: SHA-256 of its UTF-8 bytes, as for facts.
pub fn content_digest(content: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(content.as_bytes()).to_vec()
}

/// An episode's id: the same for the same turn on every replay and in both backends.
pub fn episode_id(job_id: Uuid, message_index: i32) -> Uuid {
    Uuid::new_v5(&job_id, &message_index.to_be_bytes())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::System => "system",
    }
}

/// The episodes a `Submitted` event makes: one per message, timed by the message, else by the
/// submission's commit.
pub fn episodes_of(
    tenant: &str,
    job_id: Uuid,
    event: &ExtractionJobEvent,
    submitted_at: DateTime<Utc>,
    position: i64,
) -> Vec<EpisodeRow> {
    let ExtractionJobEvent::Submitted {
        user_id,
        conversation,
        ..
    } = event
    else {
        return Vec::new();
    };
    conversation
        .messages()
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let message_index = i32::try_from(index).unwrap_or(i32::MAX);
            EpisodeRow {
                tenant: tenant.to_owned(),
                user_id: user_id.to_string(),
                record: EpisodeRecord {
                    episode_id: episode_id(job_id, message_index),
                    job_id,
                    message_index,
                    role: role_name(message.role).to_owned(),
                    name: message.name.clone(),
                    content: message.content.clone(),
                    occurred_at: stored_time(message.sent_at.unwrap_or(submitted_at)),
                },
                position,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub struct EpisodesProjection;

#[async_trait]
impl Projection for EpisodesProjection {
    fn name(&self) -> &'static str {
        "episodes"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["episodes"]
    }

    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        Some(Box::<EpisodesFold>::default())
    }

    async fn apply(
        &self,
        writes: &mut dyn ReadModelWrites,
        tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError> {
        match decoded {
            DomainEvent::ExtractionJob {
                tenant,
                job_id,
                event: job_event,
            } => {
                let rows = episodes_of(
                    tenant.as_str(),
                    *job_id,
                    job_event,
                    committed_at(event),
                    event.position.global_position,
                );
                let Some(first) = rows.first() else {
                    return Ok(None);
                };
                let changed = changed(&first.tenant, &first.user_id);
                writes.put_episodes(tables, &rows).await?;
                Ok(changed)
            }
            DomainEvent::UserMemory {
                tenant,
                user_id,
                event: UserMemoryEvent::UserForgotten { .. },
            } => {
                writes
                    .forget_episodes(tables, tenant.as_str(), user_id.as_str())
                    .await?;
                Ok(changed(tenant, user_id))
            }
            DomainEvent::UserMemory { .. } => Ok(None),
        }
    }
}

/// Every user's turns, folded from the whole log and written with one `COPY`: the same rows
/// as [`EpisodesProjection::apply`] leaves, without a statement per turn.
#[derive(Debug, Default)]
struct EpisodesFold {
    /// By (tenant, user), then (job, message index): a turn kept once, as `ON CONFLICT DO
    /// NOTHING` keeps it live.
    users: HashMap<(String, String), BTreeMap<(Uuid, i32), EpisodeRow>>,
}

#[async_trait]
impl RebuildFold for EpisodesFold {
    fn apply(&mut self, position: LogPosition, at: DateTime<Utc>, event: &DomainEvent) {
        match event {
            DomainEvent::ExtractionJob {
                tenant,
                job_id,
                event,
            } => {
                for row in episodes_of(
                    tenant.as_str(),
                    *job_id,
                    event,
                    at,
                    position.global_position,
                ) {
                    self.users
                        .entry((row.tenant.clone(), row.user_id.clone()))
                        .or_default()
                        .entry((row.record.job_id, row.record.message_index))
                        .or_insert(row);
                }
            }
            DomainEvent::UserMemory {
                tenant,
                user_id,
                event: UserMemoryEvent::UserForgotten { .. },
            } => {
                self.users
                    .remove(&(tenant.to_string(), user_id.to_string()));
            }
            DomainEvent::UserMemory { .. } => {}
        }
    }

    async fn write(
        self: Box<Self>,
        writes: &mut dyn ReadModelWrites,
        tables: TableSet,
    ) -> Result<u64, ProjectionError> {
        let rows: Vec<EpisodeRow> = self
            .users
            .into_values()
            .flat_map(BTreeMap::into_values)
            .collect();
        writes.bulk_episodes(tables, rows).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_token_and_a_foreign_token_is_refused() {
        let cursor = EpisodeCursor {
            occurred_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            job_id: Uuid::now_v7(),
            message_index: 7,
        };
        assert_eq!(EpisodeCursor::decode(&cursor.encode()), Some(cursor));
        for token in ["", "zz", "abc", "3a3a", &"ab".repeat(200)] {
            assert_eq!(EpisodeCursor::decode(token), None, "{token}");
        }
    }

    #[test]
    fn an_episode_id_is_stable_and_differs_by_turn() {
        let job = Uuid::now_v7();
        assert_eq!(episode_id(job, 0), episode_id(job, 0));
        assert_ne!(episode_id(job, 0), episode_id(job, 1));
    }
}
