//! Reading facts: a user's live facts (now or as of a past time), one live fact, and a fact's
//! audit trail.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use pika_domain::{FactId, UserId};
use pika_projections::fact_record::FactRecord;
use pika_projections::history::FactHistory;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Tenant;
use crate::extract::ApiQuery;
use crate::problem::{ApiError, Problem};
use crate::read_your_writes;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_facts))
        .routes(routes!(one_fact))
        .routes(routes!(fact_history))
}

/// Answers only once the `facts` read model shows the client's own write at `min_position`.
async fn caught_up(state: &AppState, min_position: Option<i64>) -> Result<(), ApiError> {
    match min_position {
        Some(position) => read_your_writes::facts_caught_up(state, position).await,
        None => Ok(()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListFactsQuery {
    /// RFC 3339 time: the facts that were live then, replayed from the event store.
    as_of: Option<DateTime<Utc>>,
    /// A position a command answered with; ignored with `as_of`, which reads the event store.
    #[param(minimum = 0)]
    min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct FactList {
    user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<DateTime<Utc>>,
    #[schema(value_type = Vec<crate::schemas::FactRecord>)]
    facts: Vec<FactRecord>,
}

/// The user's live facts, each with its source; or, with `as_of`, the facts live at that time.
///
/// `min_position` makes the read wait (at most 5 s) until the `facts` read model shows the
/// command that answered with it, so a client reads its own writes.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/facts",
    tag = "facts",
    security(("api_key" = [])),
    params(("user_id" = String, Path, pattern = "^[A-Za-z0-9_.:@-]{1,128}$"), ListFactsQuery),
    responses(
        (status = 200, description = "The facts, oldest first", body = FactList),
        (status = 400, description = "A bad user id or query parameter, or a min_position past \
            the end of the log", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The read models are unavailable, or did not reach \
            min_position within 5 s; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn list_facts(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(user_id): Path<String>,
    ApiQuery(query): ApiQuery<ListFactsQuery>,
) -> Result<Json<FactList>, ApiError> {
    let user = UserId::parse(&user_id)?;
    let facts = match query.as_of {
        Some(as_of) => state.reads.facts_as_of(&tenant.0, &user, as_of).await?,
        None => {
            caught_up(&state, query.min_position).await?;
            state.reads.live_facts(&tenant.0, &user).await?
        }
    };
    Ok(Json(FactList {
        user_id,
        as_of: query.as_of,
        facts,
    }))
}

/// Every version of a fact: event, old and new value, time, actor, correlation id and source.
///
/// Read from the event log, so a retracted or forgotten fact still has its history.
#[utoipa::path(
    get,
    path = "/v1/facts/{fact_id}/history",
    tag = "facts",
    security(("api_key" = [])),
    params(("fact_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The versions, oldest first", body = crate::schemas::FactHistory),
        (status = 400, description = "A bad fact id", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such fact for this tenant", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn fact_history(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(fact_id): Path<String>,
) -> Result<Json<FactHistory>, ApiError> {
    let fact_id: FactId = fact_id.parse()?;
    state
        .reads
        .fact_history(&tenant.0, fact_id.as_uuid())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no fact {fact_id}")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OneFactQuery {
    /// A position a command answered with: the read waits until the fact shows it.
    #[param(minimum = 0)]
    min_position: Option<i64>,
}

/// One live fact.
#[utoipa::path(
    get,
    path = "/v1/facts/{fact_id}",
    tag = "facts",
    security(("api_key" = [])),
    params(("fact_id" = Uuid, Path), OneFactQuery),
    responses(
        (status = 200, description = "The fact", body = crate::schemas::FactRecord),
        (status = 400, description = "A bad fact id or query parameter, or a min_position past \
            the end of the log", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No live fact with this id for this tenant (retracted, or \
            never this tenant's)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The read models are unavailable, or did not reach \
            min_position within 5 s; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn one_fact(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(fact_id): Path<String>,
    ApiQuery(query): ApiQuery<OneFactQuery>,
) -> Result<Json<FactRecord>, ApiError> {
    let fact_id: FactId = fact_id.parse()?;
    caught_up(&state, query.min_position).await?;
    state
        .reads
        .fact(&tenant.0, fact_id.as_uuid())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no live fact {fact_id}")))
}
