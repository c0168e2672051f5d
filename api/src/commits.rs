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
use pika_domain::{
    FactId, FactKey, TenantId, UserId, UserMemoryCommand, UserMemoryEvent, user_memory_id,
};
use sqlx::PgPool;

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
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Option<Head>, ApiError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT sequence, global_position FROM events
          WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(user_memory_id(tenant, user))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(sequence, position)| Head { sequence, position }))
}

pub async fn execute(
    state: &AppState,
    tenant: &TenantId,
    user: &UserId,
    command: UserMemoryCommand,
    context: &CommandContext,
) -> Result<Commit, ApiError> {
    let pool = &state.dependencies.postgres;
    let before = head(pool, tenant, user).await?.unwrap_or_default();
    state
        .write_model
        .execute_user_memory(tenant, user, command, context)
        .await?;
    let rows: Vec<(i64, serde_json::Value, bool)> = sqlx::query_as(
        "SELECT global_position, payload,
                COALESCE(metadata ->> 'correlation_id' = $3, false) AS ours
           FROM events
          WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1 AND sequence > $2
          ORDER BY sequence",
    )
    .bind(user_memory_id(tenant, user))
    .bind(before.sequence)
    .bind(&context.correlation_id)
    .fetch_all(pool)
    .await?;
    let latest = rows
        .last()
        .map_or(before.position, |(position, ..)| *position);
    let mut commit = Commit {
        position: latest,
        events: Vec::new(),
    };
    for (position, payload, _) in rows.into_iter().filter(|(.., ours)| *ours) {
        let event = serde_json::from_value(payload).map_err(|e| {
            ApiError::Internal(anyhow!("event at position {position} does not decode: {e}"))
        })?;
        commit.events.push(event);
        commit.position = position;
    }
    Ok(commit)
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
    pool: &PgPool,
    tenant: &TenantId,
    fact_id: FactId,
) -> Result<Option<FactOwner>, ApiError> {
    let live: Option<(String, String)> =
        sqlx::query_as("SELECT user_id, key FROM facts WHERE tenant = $1 AND fact_id = $2")
            .bind(tenant.as_str())
            .bind(fact_id.as_uuid())
            .fetch_optional(pool)
            .await?;
    let found = match live {
        Some(row) => Some(row),
        None => {
            sqlx::query_as(
                "SELECT split_part(aggregate_id, '/', 2), (payload -> event_type) ->> 'key'
                   FROM events
                  WHERE aggregate_type = 'UserMemory'
                    AND ((payload -> event_type) ->> 'fact_id') = $1
                    AND starts_with(aggregate_id, $2)
                  LIMIT 1",
            )
            .bind(fact_id.to_string())
            .bind(format!("{tenant}/"))
            .fetch_optional(pool)
            .await?
        }
    };
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
