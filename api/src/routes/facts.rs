//! Reading facts: a user's live facts (now or as of a past time) and a fact's audit trail.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use chrono::{DateTime, Utc};
use pika_domain::{FactId, UserId};
use pika_projections::fact_record::FactRecord;
use pika_projections::history::{self, FactHistory};
use serde::{Deserialize, Serialize};

use crate::auth::Tenant;
use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/users/{user_id}/facts", get(list_facts))
        .route("/v1/facts/{fact_id}/history", get(fact_history))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListFactsQuery {
    /// RFC 3339 time: the facts that were live then, replayed from the event store.
    as_of: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
struct FactList {
    user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<DateTime<Utc>>,
    facts: Vec<FactRecord>,
}

#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn list_facts(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(user_id): Path<String>,
    ApiQuery(query): ApiQuery<ListFactsQuery>,
) -> Result<Json<FactList>, ApiError> {
    let user = UserId::parse(&user_id)?;
    let pool = &state.dependencies.postgres;
    let facts = match query.as_of {
        Some(as_of) => history::facts_as_of(pool, &tenant.0, &user, as_of).await,
        None => history::live_facts(pool, &tenant.0, &user).await,
    }
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(FactList {
        user_id,
        as_of: query.as_of,
        facts,
    }))
}

#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn fact_history(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(fact_id): Path<String>,
) -> Result<Json<FactHistory>, ApiError> {
    let fact_id: FactId = fact_id.parse()?;
    history::fact_history(&state.dependencies.postgres, &tenant.0, fact_id.as_uuid())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no fact {fact_id}")))
}
