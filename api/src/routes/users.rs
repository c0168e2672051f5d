//! The tenant's users and what happened to each: the list an operator starts from (the
//! Inspector's first page) and a user's jobs.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use pika_domain::UserId;
use pika_projections::jobs::JobView;
use pika_projections::read_store::UserPage;
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
        .routes(routes!(list_users))
        .routes(routes!(list_user_jobs))
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::Unprocessable(format!(
            "limit must be 1 to {MAX_LIMIT}"
        )))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListUsersQuery {
    /// Users per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page: users after this id.
    #[param(max_length = 128)]
    after: Option<String>,
    /// Only users whose id starts with this.
    #[param(max_length = 128)]
    prefix: Option<String>,
    /// A position a command answered with (a forget, say): the list waits (at most 5 s) until
    /// every read model it is made from shows it.
    #[param(minimum = 0)]
    min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct UserRow {
    user_id: String,
    /// Live facts now; 0 for a user with only conversation turns.
    live_facts: i64,
    /// When a fact of the user last changed; null for a user with only conversation turns.
    last_changed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
struct UserList {
    users: Vec<UserRow>,
    /// Pass as `after` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// The read models the list of users is made from.
const LISTED_FROM: [&str; 3] = ["facts", "user_favorite_summary", "episodes"];

/// Longer than any user id can be: a cursor or prefix past it cannot match and is a mistake.
const MAX_ID_LEN: usize = 128;

fn id_param<'a>(name: &str, value: Option<&'a str>) -> Result<Option<&'a str>, ApiError> {
    match value {
        Some(text) if text.chars().count() > MAX_ID_LEN => Err(ApiError::Unprocessable(format!(
            "{name}: at most {MAX_ID_LEN} characters"
        ))),
        other => Ok(other),
    }
}

/// The tenant's users with anything remembered (live facts or conversation turns), by id, with
/// their live fact count and last change; cursor-paginated, optionally by id prefix.
#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "facts",
    security(("api_key" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, description = "One page of users, by id", body = UserList),
        (status = 400, description = "An unknown query parameter, or a min_position no \
            command answered with", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A limit out of range, or a cursor or prefix over 128 \
            characters", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The read models are unavailable, or did not reach \
            min_position within 5 s; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn list_users(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(query): ApiQuery<ListUsersQuery>,
) -> Result<Json<UserList>, ApiError> {
    let page = UserPage {
        after: id_param("after", query.after.as_deref())?,
        prefix: id_param("prefix", query.prefix.as_deref())?,
        limit: page_limit(query.limit)?,
    };
    if let Some(position) = query.min_position {
        // Waited for together, so the bound is one wait's 5 s, not one per read model.
        let wait = |projection| {
            read_your_writes::wait_for(state.reads.as_ref(), &state.progress, projection, position)
        };
        let [facts, summary, episodes] = LISTED_FROM;
        tokio::try_join!(wait(facts), wait(summary), wait(episodes))?;
    }

    let users = state.reads.users(&tenant.0, page).await?;
    let full_page = users.len() == page.limit as usize;
    let next_cursor = users
        .last()
        .filter(|_| full_page)
        .map(|last| last.user_id.clone());
    let users = users
        .into_iter()
        .map(|user| UserRow {
            user_id: user.user_id,
            live_facts: user.live_facts,
            last_changed_at: user.last_changed_at,
        })
        .collect();
    Ok(Json(UserList { users, next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListJobsQuery {
    /// Jobs to list, newest first, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
struct JobList {
    user_id: String,
    #[schema(value_type = Vec<crate::schemas::JobView>)]
    jobs: Vec<JobView>,
}

/// The user's most recent extraction jobs, newest first: status, attempts, the last error and
/// what each changed. Statuses are as recorded, so a job may read `completed` a moment before
/// its facts are searchable; `GET /v1/jobs/{job_id}` waits for that.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/jobs",
    tag = "extraction",
    security(("api_key" = [])),
    params(("user_id" = String, Path, pattern = "^[A-Za-z0-9_.:@-]{1,128}$"), ListJobsQuery),
    responses(
        (status = 200, description = "The jobs, newest first", body = JobList),
        (status = 400, description = "A bad user id or an unknown query parameter",
            body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A limit out of range", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "The read models are unavailable; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn list_user_jobs(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(user_id): Path<String>,
    ApiQuery(query): ApiQuery<ListJobsQuery>,
) -> Result<Json<JobList>, ApiError> {
    let user = UserId::parse(&user_id)?;
    let limit = page_limit(query.limit)?;
    let jobs = state.reads.user_jobs(&tenant.0, &user, limit).await?;
    Ok(Json(JobList { user_id, jobs }))
}
