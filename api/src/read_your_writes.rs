//! Read-your-writes: a query given `min_position` (the position a command answered with) waits
//! briefly until the read model it reads has applied that position, so a client sees its own
//! change without polling.

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

use crate::problem::ApiError;

/// The longest a query waits for a read model before answering 503; projections normally
/// follow within milliseconds, so a longer lag means they are stuck and the client should know.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(5);
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Waits until `projection` has applied the event at global `position`.
pub async fn wait_for(pool: &PgPool, projection: &str, position: i64) -> Result<(), ApiError> {
    if position < 0 {
        return Err(ApiError::BadRequest("min_position must be ≥ 0".into()));
    }
    if position > last_position_issued(pool).await? {
        return Err(ApiError::BadRequest(format!(
            "min_position {position} is past the end of the event log; pass a position a \
             command answered with"
        )));
    }
    let deadline = Instant::now() + MAX_CATCH_UP;
    while !applied(pool, projection, position).await? {
        if Instant::now() >= deadline {
            return Err(ApiError::Unavailable(format!(
                "the {projection} read model has not reached position {position} yet; retry"
            )));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    Ok(())
}

/// The largest position the sequence ever handed out, committed or not. Every position a
/// command answered with is at most this, so a larger one was made up and would only wait out
/// `MAX_CATCH_UP` to end in a misleading 503.
async fn last_position_issued(pool: &PgPool) -> Result<i64, ApiError> {
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT pg_sequence_last_value(pg_get_serial_sequence('events', 'global_position')::regclass)",
    )
    .fetch_one(pool)
    .await?;
    Ok(last.unwrap_or(0))
}

/// Positions are taken at insert and commit out of order, so the checkpoint is compared in
/// log order, `(transaction_id, global_position)`, against the event at `position`: a
/// checkpoint already past a larger position may still lack this one. A position no event
/// holds (a rolled-back insert, or a made-up number) is compared by position alone.
async fn applied(pool: &PgPool, projection: &str, position: i64) -> Result<bool, ApiError> {
    if position == 0 {
        return Ok(true);
    }
    let applied: Option<bool> = sqlx::query_scalar(
        "SELECT CASE WHEN e.global_position IS NULL THEN c.global_position >= $2
                     ELSE (c.transaction_id, c.global_position)
                          >= (e.transaction_id::text::bigint, e.global_position)
                END
           FROM projection_checkpoints c
           LEFT JOIN events e ON e.global_position = $2
          WHERE c.projection = $1",
    )
    .bind(projection)
    .bind(position)
    .fetch_optional(pool)
    .await?;
    Ok(applied.unwrap_or(false))
}
