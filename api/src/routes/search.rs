//! `POST /v1/search` and `GET /v1/users/{user_id}/favorites`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use pika_domain::UserId;
use pika_projections::search::{ScoredFact, SearchFilter};
use serde::{Deserialize, Serialize};

use crate::auth::Tenant;
use crate::extract::ApiJson;
use crate::problem::ApiError;
use crate::search::service::{Layer, SearchQuery};
use crate::state::AppState;

const MAX_QUERY_CHARS: usize = 1_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/search", post(search))
        .route("/v1/users/{user_id}/favorites", get(favorites))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    user_id: String,
    query: String,
    limit: Option<u32>,
    kinds: Option<Vec<String>>,
    keys: Option<Vec<String>>,
    min_score: Option<f64>,
}

#[derive(Debug, Serialize)]
struct SearchResponse<'a> {
    results: &'a [ScoredFact],
    served_from: &'static str,
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
        let min_score = self.min_score.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&min_score) {
            return Err(ApiError::Unprocessable(
                "min_score: must be between 0 and 1".into(),
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
            },
            min_score,
        })
    }
}

#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn search(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<(HeaderMap, Json<serde_json::Value>), ApiError> {
    let query = body.into_query(&tenant)?;
    let (answer, layer) = state.search.search(&query).await?;
    let response = SearchResponse {
        results: &answer.results,
        served_from: layer.as_str(),
    };
    let body = serde_json::to_value(&response).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((cache_header(layer), Json(body)))
}

#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn favorites(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(user_id): Path<String>,
) -> Result<(HeaderMap, Json<serde_json::Value>), ApiError> {
    let user = UserId::parse(&user_id)?;
    let summary =
        pika_projections::history::favorite_summary(&state.dependencies.postgres, &tenant.0, &user)
            .await?;
    let mut body = serde_json::to_value(&summary).map_err(|e| ApiError::Internal(e.into()))?;
    body["served_from"] = Layer::L2.as_str().into();
    Ok((cache_header(Layer::L2), Json(body)))
}
