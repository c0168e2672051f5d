//! Where each projection stands: what the Inspector shows an operator who wonders why a fact
//! is not visible yet. The same figures as `pika-memory projections status` and `/metrics`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use pika_projections::projection::all_projections;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Tenant;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(projection_status))
}

#[derive(Debug, Serialize, ToSchema)]
struct ProjectionRow {
    projection: String,
    /// The global log position of the last event applied.
    global_position: i64,
    events_applied: i64,
    /// Events in the log not yet applied.
    lag_events: i64,
    /// How long ago the oldest unapplied event was committed; 0 when caught up.
    lag_seconds: f64,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
struct ProjectionList {
    projections: Vec<ProjectionRow>,
}

/// Each read model's checkpoint and lag behind the event log; every projection is listed,
/// including one that has not applied its first event.
#[utoipa::path(
    get,
    path = "/v1/projections",
    tag = "operations",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Every projection, by name", body = ProjectionList),
        (status = 503, description = "The read models are unavailable; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn projection_status(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<ProjectionList>, ApiError> {
    let names: Vec<&str> = all_projections().iter().map(|p| p.name()).collect();
    let statuses = state.reads.projection_status(&names).await?;
    let projections = statuses
        .into_iter()
        .map(|status| ProjectionRow {
            projection: status.projection,
            global_position: status.position.global_position,
            events_applied: status.events_applied,
            lag_events: status.lag_events,
            lag_seconds: status.lag_seconds,
            updated_at: status.updated_at,
        })
        .collect();
    Ok(Json(ProjectionList { projections }))
}
