//! `POST /v1/search` and `GET /v1/users/{user_id}/favorites`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use pika_domain::UserId;
use pika_projections::search::SearchFilter;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Tenant;
use crate::extract::ApiJson;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use pika_projections::query::service::{Layer, SearchQuery};

const MAX_QUERY_CHARS: usize = 1_000;
/// Scores below this relate to nothing in the query (measured: on the LOCOMO development split
/// it changes no recall figure while a nonsense query's results all fall under it).
const DEFAULT_MIN_SCORE: f64 = 0.1;
/// The most entries of `kinds` or `keys`: filtering costs memories × entries, so a client
/// cannot make one search arbitrarily expensive.
const MAX_FILTER_ENTRIES: usize = 64;
/// The most turns shown on each side of a turn found.
const MAX_CONTEXT: u32 = 5;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(favorites))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    #[schema(pattern = "^[A-Za-z0-9_.:@-]{1,128}$")]
    user_id: String,
    #[schema(min_length = 1, max_length = 1000)]
    query: String,
    #[schema(minimum = 1, maximum = 100, default = 10)]
    limit: Option<u32>,
    /// Only facts of these kinds (`preference`, `dislike`, `identity`, …); at most 64.
    #[schema(max_items = 64)]
    kinds: Option<Vec<String>>,
    /// Only these keys; `likes.*` stands for `likes` and every `likes.` key; at most 64.
    #[schema(max_items = 64)]
    keys: Option<Vec<String>>,
    /// Leave out results scoring below this. A score is a relevance comparable across queries
    /// (see the result's `score`), so the default drops what does not relate to the query at
    /// all: a query no memory relates to answers with no results.
    #[schema(minimum = 0, maximum = 1, default = 0.1)]
    min_score: Option<f64>,
    /// What to search: `fact` (distilled facts) and `episode` (conversation turns as said);
    /// default both, ranked as one list.
    #[schema(value_type = Option<Vec<String>>, example = json!(["fact", "episode"]))]
    types: Option<Vec<MemoryType>>,
    /// RFC 3339: only facts learned, or turns said, at or after this time.
    since: Option<DateTime<Utc>>,
    /// RFC 3339: only facts learned, or turns said, at or before this time.
    until: Option<DateTime<Utc>>,
    /// With each turn found, this many turns of its conversation before and after it (0–5).
    #[schema(minimum = 0, maximum = 5, default = 0)]
    context: Option<u32>,
}

/// The kinds of memory a search covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MemoryType {
    Fact,
    Episode,
}

// The search handler splices cached bytes into its answer instead of serialising a value, so
// this type exists only to describe that answer.
#[derive(ToSchema)]
#[allow(dead_code, reason = "describes bytes the search handler writes itself")]
struct SearchResults {
    results: Vec<SearchHit>,
    #[schema(schema_with = served_from_schema)]
    served_from: String,
}

/// A fact or a conversation turn, told apart by `type`.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "describes bytes the search handler writes itself")]
enum SearchHit {
    Fact(FactHit),
    Episode(EpisodeHit),
}

#[derive(ToSchema)]
#[allow(dead_code, reason = "describes bytes the search handler writes itself")]
struct FactHit {
    #[schema(schema_with = fact_type_schema)]
    r#type: String,
    #[serde(flatten)]
    fact: crate::schemas::FactRecord,
    /// Relevance in [0, 1], comparable across queries: how close in meaning or how much of
    /// the query's weight in words the memory holds, whichever is higher; never above a
    /// result ranked before it.
    #[schema(minimum = 0, maximum = 1)]
    score: f64,
}

#[derive(ToSchema)]
#[allow(dead_code, reason = "describes bytes the search handler writes itself")]
struct EpisodeHit {
    #[schema(schema_with = episode_type_schema)]
    r#type: String,
    #[serde(flatten)]
    episode: crate::schemas::EpisodeRecord,
    /// The turns around it in its conversation, in order, when `context` asked for them.
    context: Option<Vec<crate::schemas::EpisodeRecord>>,
    /// Fused relevance in [0, 1], on the same scale as facts'.
    #[schema(minimum = 0, maximum = 1)]
    score: f64,
}

fn type_schema(name: &str) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some([name]))
        .build()
}

fn fact_type_schema() -> utoipa::openapi::Object {
    type_schema("fact")
}

fn episode_type_schema() -> utoipa::openapi::Object {
    type_schema("episode")
}

// The favourites handler adds `served_from` to the summary as JSON; this type describes it.
#[derive(ToSchema)]
#[allow(dead_code, reason = "describes the JSON the favourites handler builds")]
struct Favorites {
    #[serde(flatten)]
    summary: crate::schemas::FavoriteSummaryView,
    #[schema(schema_with = served_from_schema)]
    served_from: String,
}

/// `Layer` lives with the search service, which knows nothing of schemas.
fn served_from_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["L0", "L1", "L2", "L4"]))
        .description(Some(
            "The cache layer that answered, as in the X-Cache header",
        ))
        .build()
}

fn cache_header(layer: Layer) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-cache", HeaderValue::from_static(layer.as_str()));
    headers
}

impl SearchBody {
    fn into_query(self, tenant: &Tenant) -> Result<SearchQuery, ApiError> {
        let user =
            UserId::parse(&self.user_id).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let query = self.query.trim().to_owned();
        if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::Unprocessable(format!(
                "query: must be 1 to {MAX_QUERY_CHARS} characters"
            )));
        }
        let limit = self.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::Unprocessable("limit: must be 1 to 100".into()));
        }
        let min_score = self.min_score.unwrap_or(DEFAULT_MIN_SCORE);
        if !(0.0..=1.0).contains(&min_score) {
            return Err(ApiError::Unprocessable(
                "min_score: must be between 0 and 1".into(),
            ));
        }
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since > until
        {
            return Err(ApiError::Unprocessable(
                "since must not be after until".into(),
            ));
        }
        for (name, list) in [("kinds", &self.kinds), ("keys", &self.keys)] {
            let list = list.as_deref().unwrap_or_default();
            if list.len() > MAX_FILTER_ENTRIES || list.iter().any(|e| e.chars().count() > 128) {
                return Err(ApiError::Unprocessable(format!(
                    "{name}: at most {MAX_FILTER_ENTRIES} entries of at most 128 characters"
                )));
            }
        }
        let context = self.context.unwrap_or(0);
        if context > MAX_CONTEXT {
            return Err(ApiError::Unprocessable(format!(
                "context: must be 0 to {MAX_CONTEXT}"
            )));
        }
        let types = self
            .types
            .unwrap_or_else(|| vec![MemoryType::Fact, MemoryType::Episode]);
        if types.is_empty() {
            return Err(ApiError::Unprocessable(
                "types: name at least one of fact, episode".into(),
            ));
        }
        Ok(SearchQuery {
            tenant: tenant.0.to_string(),
            user_id: user.to_string(),
            query,
            limit: limit as usize,
            filter: SearchFilter {
                kinds: self.kinds,
                keys: self.keys,
                facts: types.contains(&MemoryType::Fact),
                episodes: types.contains(&MemoryType::Episode),
                since: self.since,
                until: self.until,
                context: context as usize,
            },
            min_score,
        })
    }
}

/// Rank the user's memories — live facts and conversation turns, as one list — for a message.
///
/// Answers come from the first cache layer that holds a current answer (L0 in process, L1
/// Redis), else from ranking (L4); `X-Cache` names the layer so clients and dashboards can see
/// cache behaviour without parsing the body.
#[utoipa::path(
    post,
    path = "/v1/search",
    tag = "search",
    security(("api_key" = [])),
    request_body = SearchBody,
    responses(
        (status = 200, description = "The best memories first", body = SearchResults,
            headers(("X-Cache" = String, description = "The layer that answered: L0, L1 or L4"))),
        (status = 400, description = "Malformed JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "Over 1 MiB", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "A bad user id, query, limit, min_score, type or time, since \
            after until, or an unknown field",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The read models are unavailable; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn search(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<(HeaderMap, Body), ApiError> {
    let query = body.into_query(&tenant)?;
    let (answer, layer) = state.search.search(&query).await?;
    // `{"results": [...], "served_from": "L0"}`, spliced around the cached results' bytes.
    let mut body = Vec::with_capacity(answer.results_json.len() + 48);
    body.extend_from_slice(b"{\"results\":");
    body.extend_from_slice(&answer.results_json);
    body.extend_from_slice(b",\"served_from\":\"");
    body.extend_from_slice(layer.as_str().as_bytes());
    body.extend_from_slice(b"\"}");
    let mut headers = cache_header(layer);
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((headers, Body::from(body)))
}

/// Favourites, likes and dislikes by topic, from the `user_favorite_summary` read model (L2).
///
/// A user with no facts yet has an empty summary, not a 404.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/favorites",
    tag = "search",
    security(("api_key" = [])),
    params(("user_id" = String, Path, pattern = "^[A-Za-z0-9_.:@-]{1,128}$")),
    responses(
        (status = 200, description = "The summary", body = Favorites,
            headers(("X-Cache" = String, description = "Always L2"))),
        (status = 400, description = "A bad user id", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "The read models are unavailable; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn favorites(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(user_id): Path<String>,
) -> Result<(HeaderMap, Json<serde_json::Value>), ApiError> {
    let user = UserId::parse(&user_id)?;
    let summary = state.reads.favorite_summary(&tenant.0, &user).await?;
    let mut body = serde_json::to_value(&summary).map_err(|e| ApiError::Internal(e.into()))?;
    body["served_from"] = Layer::L2.as_str().into();
    Ok((cache_header(Layer::L2), Json(body)))
}
