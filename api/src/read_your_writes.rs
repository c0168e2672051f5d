//! Read-your-writes: a query given `min_position` (the position a command answered with) waits
//! briefly until the read model it reads has applied that position, so a client sees its own
//! change without polling.

use std::time::Duration;

use pika_projections::{ProjectionProgress, ReadStore};
use tokio::time::Instant;

use crate::problem::ApiError;

/// The longest a query waits for a read model before answering 503; projections normally
/// follow within milliseconds, so a longer lag means they are stuck and the client should know.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(5);

/// Waits until `projection` has applied the event at global `position`.
pub async fn wait_for(
    reads: &dyn ReadStore,
    progress: &ProjectionProgress,
    projection: &str,
    position: i64,
) -> Result<(), ApiError> {
    if position < 0 {
        return Err(ApiError::BadRequest("min_position must be ≥ 0".into()));
    }
    // Every position a command answered with is at most the last one issued, so a larger one
    // was made up and would only wait out `MAX_CATCH_UP` to end in a misleading 503.
    if position > reads.last_position_issued().await? {
        return Err(ApiError::BadRequest(format!(
            "min_position {position} is past the end of the event log; pass a position a \
             command answered with"
        )));
    }
    let deadline = Instant::now() + MAX_CATCH_UP;
    let mut waiter = progress.waiter();
    while !reads.has_applied(projection, position).await? {
        if Instant::now() >= deadline {
            return Err(ApiError::Unavailable(format!(
                "the {projection} read model has not reached position {position} yet; retry"
            )));
        }
        waiter.next(deadline).await;
    }
    Ok(())
}

/// Answers once the `facts` read model shows the commit at `position`, so the caller's next
/// read of facts includes its own write.
pub async fn facts_caught_up(
    state: &crate::state::AppState,
    position: i64,
) -> Result<(), ApiError> {
    wait_for(
        state.reads.as_ref(),
        &state.progress,
        pika_projections::Projection::name(&pika_projections::projection::FactsProjection),
        position,
    )
    .await
}
