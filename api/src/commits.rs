//! Running a `UserMemory` command for the API and reading back what it committed.
//!
//! cqrs-es' `execute` returns nothing, yet a client that wants to read its own write needs the
//! global position of the commit, and `POST /facts` must say which fact a candidate became (on
//! a single-valued key it updates the live fact instead of adding one). Both are read back from
//! the event store: the aggregate's events past its last sequence before the command, tagged
//! with this request's correlation id, so a commit another writer slipped in between is never
//! taken for ours.

use anyhow::anyhow;
use pika_commands::CommandContext;
use pika_domain::{FactId, FactKey, TenantId, UserId, UserMemoryCommand, UserMemoryEvent};
use pika_projections::read_store::UserLogEntry;

use crate::problem::ApiError;
use crate::state::AppState;

/// Where a user's log ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Head {
    pub sequence: i64,
    pub position: i64,
}

/// What one command wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The global position of the commit's last event. A command that changed nothing has the
    /// user's latest position instead, so a read at it still sees the state the command was
    /// checked against.
    pub position: i64,
    pub events: Vec<UserMemoryEvent>,
}

/// The user's last event, `None` for a user this tenant never wrote anything for.
pub async fn head(
    state: &AppState,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Option<Head>, ApiError> {
    let head = state.reads.user_head(tenant, user).await?;
    Ok(head.map(|(sequence, position)| Head { sequence, position }))
}

pub async fn execute(
    state: &AppState,
    tenant: &TenantId,
    user: &UserId,
    command: UserMemoryCommand,
    context: &CommandContext,
) -> Result<Commit, ApiError> {
    let before = head(state, tenant, user).await?.unwrap_or_default();
    state
        .write_model
        .execute_user_memory(tenant, user, command, context)
        .await?;
    let entries = state
        .reads
        .user_log_after(tenant, user, before.sequence)
        .await?;
    let latest = entries
        .last()
        .map_or(before.position, |entry| entry.position);
    let mut commit = Commit {
        position: latest,
        events: Vec::new(),
    };
    let ours = |entry: &UserLogEntry| {
        entry.correlation_id.as_deref() == Some(context.correlation_id.as_str())
    };
    for entry in entries.into_iter().filter(ours) {
        let position = entry.position;
        commit.events.push(decoded(entry)?);
        commit.position = position;
    }
    Ok(commit)
}

/// One entry of a user's log as its typed event.
pub fn decoded(entry: UserLogEntry) -> Result<UserMemoryEvent, ApiError> {
    let position = entry.position;
    serde_json::from_value(entry.payload).map_err(|e| {
        ApiError::Internal(anyhow!("event at position {position} does not decode: {e}"))
    })
}

/// Whom a fact of this tenant belongs to, and its key (which never changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactOwner {
    pub user: UserId,
    pub key: FactKey,
}

/// The `facts` read model knows every live fact it has caught up with; a fact it has not
/// caught up with yet, or one already retracted, is found in the event store, so a client
/// correcting a fact it has just added never gets a 404. Both lookups are tenant-scoped.
pub async fn fact_owner(
    state: &AppState,
    tenant: &TenantId,
    fact_id: FactId,
) -> Result<Option<FactOwner>, ApiError> {
    let found = state.reads.fact_owner(tenant, fact_id.as_uuid()).await?;
    let corrupt = |e: pika_domain::ValidationError| {
        ApiError::Internal(anyhow!("stored fact {fact_id} is unreadable: {e}"))
    };
    found
        .map(|(user, key)| {
            Ok(FactOwner {
                user: UserId::parse(&user).map_err(corrupt)?,
                key: FactKey::parse(&key).map_err(corrupt)?,
            })
        })
        .transpose()
}
