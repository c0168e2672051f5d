//! Listing a user's conversation turns (episodic memory) in time order.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use pika_domain::UserId;
use pika_projections::episodes::{EpisodeCursor, EpisodeQuery, EpisodeRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Tenant;
use crate::extract::ApiQuery;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_episodes))
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListEpisodesQuery {
    /// RFC 3339: only turns said at or after this time.
    since: Option<String>,
    /// RFC 3339: only turns said at or before this time.
    until: Option<String>,
    /// Turns per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct EpisodeList {
    user_id: String,
    #[schema(value_type = Vec<crate::schemas::EpisodeRecord>)]
    episodes: Vec<EpisodeRecord>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// A query-string time, refused with the parameter's name (422) rather than a parse error.
fn time(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|e| ApiError::Unprocessable(format!("{name}: not an RFC 3339 time ({e})")))
        })
        .transpose()
}

impl ListEpisodesQuery {
    fn parse(&self) -> Result<EpisodeQuery, ApiError> {
        let since = time("since", self.since.as_deref())?;
        let until = time("until", self.until.as_deref())?;
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            return Err(ApiError::Unprocessable(
                "since must not be after until".into(),
            ));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::Unprocessable(format!(
                "limit must be 1 to {MAX_LIMIT}"
            )));
        }
        let after = self
            .cursor
            .as_deref()
            .map(|token| {
                EpisodeCursor::decode(token).ok_or_else(|| {
                    ApiError::Unprocessable("cursor: not a cursor this service handed out".into())
                })
            })
            .transpose()?;
        Ok(EpisodeQuery {
            since,
            until,
            after,
            limit,
        })
    }
}

/// The user's conversation turns in the order they were said, with speaker and time,
/// cursor-paginated.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/episodes",
    tag = "episodes",
    security(("api_key" = [])),
    params(("user_id" = String, Path, pattern = "^[A-Za-z0-9_.:@-]{1,128}$"), ListEpisodesQuery),
    responses(
        (status = 200, description = "The turns, oldest first", body = EpisodeList),
        (status = 400, description = "A bad user id or an unknown query parameter",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad time, since after until, a limit out of range or \
            a cursor this service did not hand out", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "The read models are unavailable; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn list_episodes(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(user_id): Path<String>,
    ApiQuery(query): ApiQuery<ListEpisodesQuery>,
) -> Result<Json<EpisodeList>, ApiError> {
    let user = UserId::parse(&user_id)?;
    let query = query.parse()?;
    let episodes = state.reads.episodes(&tenant.0, &user, &query).await?;
    let full_page = episodes.len() == query.limit as usize;
    let next_cursor = episodes
        .last()
        .filter(|_| full_page)
        .map(|last| EpisodeCursor::after(last).encode());
    Ok(Json(EpisodeList {
        user_id,
        episodes,
        next_cursor,
    }))
}
