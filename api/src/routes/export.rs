//! Right of access: everything the service holds about one user, as one JSON document.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use pika_domain::{UserId, UserMemoryEvent};
use pika_projections::episodes::{EpisodeCursor, EpisodeQuery, EpisodeRecord};
use pika_projections::fact_record::FactRecord;
use pika_projections::history::FactHistory;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Tenant;
use crate::commits;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export_user))
}

/// Turns read per page while gathering the conversations.
const PAGE: u32 = 200;

#[derive(Debug, Serialize, ToSchema)]
struct UserExport {
    user_id: String,
    exported_at: DateTime<Utc>,
    /// The live facts.
    #[schema(value_type = Vec<crate::schemas::FactRecord>)]
    facts: Vec<FactRecord>,
    /// The history of every fact since the user was last forgotten, live or retracted.
    #[schema(value_type = Vec<crate::schemas::FactHistory>)]
    fact_histories: Vec<FactHistory>,
    /// Every turn of every conversation kept for the user, oldest first.
    #[schema(value_type = Vec<crate::schemas::EpisodeRecord>)]
    conversations: Vec<EpisodeRecord>,
}

/// Export a user: their facts, each fact's history and their conversations (GDPR art. 15).
///
/// A forgotten user exports empty: what they said before is gone.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/export",
    tag = "facts",
    security(("api_key" = [])),
    params(("user_id" = String, Path, pattern = "^[A-Za-z0-9_.:@-]{1,128}$")),
    responses(
        (status = 200, description = "Everything held about the user", body = UserExport),
        (status = 400, description = "A bad user id", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "A user this tenant never wrote to", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "The stores are unavailable; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn export_user(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(user_id): Path<String>,
) -> Result<Json<UserExport>, ApiError> {
    let user = UserId::parse(&user_id)?;
    if commits::head(&state, &tenant.0, &user).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user {user}")));
    }
    let facts = state.reads.live_facts(&tenant.0, &user).await?;
    let mut fact_histories = Vec::new();
    for fact_id in facts_since_last_forget(&state, &tenant.0, &user).await? {
        if let Some(history) = state.reads.fact_history(&tenant.0, fact_id).await? {
            fact_histories.push(history);
        }
    }
    Ok(Json(UserExport {
        user_id,
        exported_at: Utc::now(),
        facts,
        fact_histories,
        conversations: conversations(&state, &tenant.0, &user).await?,
    }))
}

/// The ids of the facts added since the user's last `UserForgotten`, in the order they came.
async fn facts_since_last_forget(
    state: &AppState,
    tenant: &pika_domain::TenantId,
    user: &UserId,
) -> Result<Vec<uuid::Uuid>, ApiError> {
    let mut added = Vec::new();
    for entry in state.reads.user_log_after(tenant, user, 0).await? {
        match commits::decoded(entry)? {
            UserMemoryEvent::UserForgotten { .. } => added.clear(),
            UserMemoryEvent::FactAdded { fact_id, .. } => added.push(fact_id.as_uuid()),
            _ => {}
        }
    }
    Ok(added)
}

async fn conversations(
    state: &AppState,
    tenant: &pika_domain::TenantId,
    user: &UserId,
) -> Result<Vec<EpisodeRecord>, ApiError> {
    let mut turns = Vec::new();
    let mut after = None;
    loop {
        let query = EpisodeQuery {
            since: None,
            until: None,
            after,
            limit: PAGE,
        };
        let page = state.reads.episodes(tenant, user, &query).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(EpisodeCursor::after);
        turns.extend(page);
        if !full {
            return Ok(turns);
        }
    }
}
