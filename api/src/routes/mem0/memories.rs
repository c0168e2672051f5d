//! The handlers of Mem0's routes, each a thin mapping onto what `/v1` already does.

use axum::Json;
use axum::extract::{Path, State};
use pika_domain::{
    ChatMessage, Confidence, Conversation, FactId, FactSource, FactText, FactValue, Role,
    UserMemoryCommand,
};
use pika_projections::Projection;
use pika_projections::episodes::EpisodesProjection;
use pika_projections::query::service::SearchQuery;
use pika_projections::read_store::UserPage;
use pika_projections::search::{ScoredMemory, SearchFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Mem0Memory, Mem0Message, Scope, refuse_other_entities, user_in};
use crate::auth::Tenant;
use crate::commits;
use crate::extract::{ApiJson, ApiQuery, RequestId};
use crate::problem::{ApiError, Problem};
use crate::read_your_writes;
use crate::routes::extractions::{
    MAX_WAIT, Submission, role_schema, submit_conversation, wait_for_job,
};
use crate::routes::fact_commands::{api_context, correct};
use crate::state::AppState;

/// Search's default floor, as in `/v1/search`: below it a memory is noise.
const DEFAULT_THRESHOLD: f64 = 0.1;
/// The most users one page of `/v1/entities/` lists.
const MAX_USERS: u32 = 1_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ping))
        .routes(routes!(add))
        .routes(routes!(add_v1, delete_all))
        .routes(routes!(search))
        .routes(routes!(search_v2))
        .routes(routes!(get_all))
        .routes(routes!(get_all_v2))
        .routes(routes!(get_memory, update_memory, delete_memory))
        .routes(routes!(memory_history))
        .routes(routes!(users))
        .routes(routes!(delete_entity))
}

#[derive(Debug, Serialize, ToSchema)]
struct Pong {
    status: &'static str,
    /// The key's tenant: Mem0's client needs an organisation and a project to start, and a
    /// PIKA tenant is both.
    org_id: String,
    project_id: String,
}

/// Mem0's clients call this when they are constructed and refuse to start without an answer.
#[utoipa::path(get, path = "/v1/ping/", tag = "mem0", security(("api_key" = [])),
    responses((status = 200, description = "The key is valid", body = Pong)))]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn ping(tenant: Tenant) -> Json<Pong> {
    Json(Pong {
        status: "ok",
        org_id: tenant.0.to_string(),
        project_id: tenant.0.to_string(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
struct AddMessage {
    #[schema(schema_with = role_schema)]
    role: Role,
    #[schema(min_length = 1, max_length = 8000)]
    content: String,
}

#[derive(Debug, Deserialize, ToSchema)]
struct AddBody {
    #[schema(min_items = 1, max_items = 200)]
    messages: Vec<AddMessage>,
    /// Kept with the conversation, as `/v1/extractions` keeps it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// `false` keeps the messages as conversation turns without extracting facts.
    #[serde(default)]
    infer: Option<bool>,
    /// `true` answers at once with the job as `event_id`; by default the add waits for it.
    #[serde(default)]
    async_mode: Option<bool>,
    #[serde(flatten)]
    scope: Scope,
}

#[derive(Debug, Serialize, ToSchema)]
struct AddResult {
    id: Uuid,
    memory: String,
    /// `ADD` for a new fact, `UPDATE` for a fact this conversation changed.
    event: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
struct AddAnswer {
    results: Vec<AddResult>,
    /// `PENDING` when the job was not waited for (or is still running after 30 s); `FAILED`
    /// when extraction gave up (the conversation is kept; `error` says why). Either way the
    /// add happened: retrying it would submit the conversation again.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The extraction job (`GET /v1/jobs/{event_id}`).
    event_id: Uuid,
}

/// Add a conversation: an extraction job, waited for unless `async_mode` is true.
#[utoipa::path(post, path = "/v3/memories/add/", tag = "mem0", security(("api_key" = [])),
    request_body = AddBody,
    responses(
        (status = 200, description = "What the conversation added or changed", body = AddAnswer),
        (status = 400, description = "No user, or a scope other than user_id", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "A bad message", body = Problem,
            content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn add(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<AddBody>,
) -> Result<Json<AddAnswer>, ApiError> {
    add_conversation(&state, &tenant, body).await.map(Json)
}

/// The 1.x client's add, answered as `/v3/memories/add/` answers.
#[utoipa::path(post, path = "/v1/memories/", tag = "mem0", security(("api_key" = [])),
    request_body = AddBody,
    responses((status = 200, description = "As `/v3/memories/add/`", body = AddAnswer)))]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn add_v1(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<AddBody>,
) -> Result<Json<AddAnswer>, ApiError> {
    add_conversation(&state, &tenant, body).await.map(Json)
}

async fn add_conversation(
    state: &AppState,
    tenant: &Tenant,
    body: AddBody,
) -> Result<AddAnswer, ApiError> {
    let user = body.scope.user()?;
    let messages = body
        .messages
        .into_iter()
        .enumerate()
        .map(|(index, m)| {
            ChatMessage::new(m.role, &m.content)
                .map_err(|e| ApiError::Unprocessable(format!("messages[{index}].{e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let conversation =
        Conversation::new(messages).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let submission = Submission {
        user_id: user.clone(),
        conversation,
        metadata: body.metadata.unwrap_or(Value::Null),
        idempotency_key: None,
        extract_facts: body.infer.unwrap_or(true),
    };
    let (job_id, _) = submit_conversation(state, tenant, submission).await?;
    let unfinished = |status, error| AddAnswer {
        results: Vec::new(),
        status: Some(status),
        error,
        event_id: job_id.as_uuid(),
    };
    if body.async_mode == Some(true) {
        return Ok(unfinished("PENDING", None));
    }
    // The job is committed: from here on a store that fails to answer leaves it pending, never
    // an error a client would retry by adding the conversation twice.
    let Ok(job) = wait_for_job(state, tenant, job_id, MAX_WAIT).await else {
        return Ok(unfinished("PENDING", None));
    };
    match job.status.as_str() {
        "completed" => {}
        "failed" | "dead_lettered" | "skipped" => return Ok(unfinished("FAILED", job.last_error)),
        _ => return Ok(unfinished("PENDING", None)),
    }
    let Ok(facts) = state.reads.live_facts(&tenant.0, &user).await else {
        return Ok(unfinished("PENDING", None));
    };
    let results = facts
        .into_iter()
        .filter(|fact| fact.source.job_id == Some(job_id.as_uuid()))
        .map(|fact| AddResult {
            id: fact.fact_id,
            memory: fact.text,
            event: if fact.version == 1 { "ADD" } else { "UPDATE" },
        })
        .collect();
    Ok(AddAnswer {
        results,
        status: None,
        error: None,
        event_id: job_id.as_uuid(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
struct SearchBody {
    query: String,
    #[serde(default)]
    top_k: Option<u32>,
    /// The lowest score a memory may have, 0–1.
    #[serde(default)]
    threshold: Option<f64>,
    #[serde(flatten)]
    scope: Scope,
}

#[derive(Debug, Serialize, ToSchema)]
struct Memories {
    results: Vec<Mem0Memory>,
}

/// Search a user's memories by meaning and words, best first.
#[utoipa::path(post, path = "/v3/memories/search/", tag = "mem0", security(("api_key" = [])),
    request_body = SearchBody,
    responses(
        (status = 200, description = "The memories found", body = Memories),
        (status = 400, description = "A filter other than user_id", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "An empty query, or top_k or threshold out of range",
            body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn search(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<Memories>, ApiError> {
    search_memories(&state, &tenant, body).await.map(Json)
}

/// The 1.x client's search, answered as `/v3/memories/search/` answers.
#[utoipa::path(post, path = "/v2/memories/search/", tag = "mem0", security(("api_key" = [])),
    request_body = SearchBody,
    responses((status = 200, description = "As `/v3/memories/search/`", body = Memories)))]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn search_v2(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<Memories>, ApiError> {
    search_memories(&state, &tenant, body).await.map(Json)
}

async fn search_memories(
    state: &AppState,
    tenant: &Tenant,
    body: SearchBody,
) -> Result<Memories, ApiError> {
    let user = body.scope.user()?;
    let query = body.query.trim().to_owned();
    if query.is_empty() || query.chars().count() > 1_000 {
        return Err(ApiError::Unprocessable(
            "query: must be 1 to 1000 characters".into(),
        ));
    }
    let limit = body.top_k.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::Unprocessable("top_k: must be 1 to 100".into()));
    }
    let threshold = body.threshold.unwrap_or(DEFAULT_THRESHOLD);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ApiError::Unprocessable(
            "threshold: must be between 0 and 1".into(),
        ));
    }
    let query = SearchQuery {
        tenant: tenant.0.to_string(),
        user_id: user.to_string(),
        query,
        limit: limit as usize,
        filter: SearchFilter {
            kinds: None,
            keys: None,
            facts: true,
            episodes: false,
            since: None,
            until: None,
            context: 0,
        },
        min_score: threshold,
    };
    let (answer, _) = state.search.search(&query).await?;
    let ranked: Vec<ScoredMemory> = serde_json::from_slice(&answer.results_json)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cached search answer unreadable: {e}")))?;
    let results = ranked
        .into_iter()
        .filter_map(|memory| match memory {
            ScoredMemory::Fact { fact, score } => Some(Mem0Memory::new(fact, Some(score))),
            ScoredMemory::Episode { .. } => None,
        })
        .collect();
    Ok(Memories { results })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// 1-based.
    #[param(minimum = 1)]
    page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
struct MemoryPage {
    count: usize,
    /// The next page's path, or null on the last page.
    next: Option<String>,
    previous: Option<String>,
    results: Vec<Mem0Memory>,
}

/// A user's memories, a page at a time (`page`, `page_size`, default all in one page).
#[utoipa::path(post, path = "/v3/memories/", tag = "mem0", security(("api_key" = [])),
    params(PageQuery), request_body = Scope,
    responses(
        (status = 200, description = "The user's memories", body = MemoryPage),
        (status = 400, description = "A filter other than user_id, or a bad page", body = Problem,
            content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn get_all(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiJson(scope): ApiJson<Scope>,
) -> Result<Json<MemoryPage>, ApiError> {
    memory_page(&state, &tenant, &page, &scope, "/v3/memories/")
        .await
        .map(Json)
}

/// The 1.x client's get_all, answered as `/v3/memories/` answers.
#[utoipa::path(post, path = "/v2/memories/", tag = "mem0", security(("api_key" = [])),
    params(PageQuery), request_body = Scope,
    responses((status = 200, description = "As `/v3/memories/`", body = MemoryPage)))]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn get_all_v2(
    State(state): State<AppState>,
    tenant: Tenant,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiJson(scope): ApiJson<Scope>,
) -> Result<Json<MemoryPage>, ApiError> {
    memory_page(&state, &tenant, &page, &scope, "/v2/memories/")
        .await
        .map(Json)
}

async fn memory_page(
    state: &AppState,
    tenant: &Tenant,
    page: &PageQuery,
    scope: &Scope,
    path: &str,
) -> Result<MemoryPage, ApiError> {
    let user = scope.user()?;
    let facts = state.reads.live_facts(&tenant.0, &user).await?;
    let count = facts.len();
    let number = page.page.unwrap_or(1).max(1) as usize;
    let size = match page.page_size {
        Some(size) if (1..=1000).contains(&size) => size as usize,
        Some(_) => return Err(ApiError::BadRequest("page_size: must be 1 to 1000".into())),
        None => count.max(1),
    };
    let link = |n: usize| format!("{path}?page={n}&page_size={size}");
    let results = facts
        .into_iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
        .map(Mem0Memory::from)
        .collect();
    Ok(MemoryPage {
        count,
        next: (number.saturating_mul(size) < count).then(|| link(number + 1)),
        previous: (number > 1).then(|| link(number - 1)),
        results,
    })
}

/// One memory.
#[utoipa::path(get, path = "/v1/memories/{memory_id}/", tag = "mem0",
    security(("api_key" = [])), params(("memory_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The memory", body = Mem0Memory),
        (status = 404, description = "No live memory with this id for this tenant",
            body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn get_memory(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(memory_id): Path<String>,
) -> Result<Json<Mem0Memory>, ApiError> {
    let fact_id: FactId = memory_id.parse()?;
    state
        .reads
        .fact(&tenant.0, fact_id.as_uuid())
        .await?
        .map(|fact| Json(fact.into()))
        .ok_or_else(|| ApiError::NotFound(format!("no memory {fact_id}")))
}

#[derive(Debug, Deserialize, ToSchema)]
struct UpdateBody {
    /// The memory's new text; it also becomes the fact's value, up to 200 characters.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    text: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// Change a memory's text (a correction, kept in its history).
#[utoipa::path(put, path = "/v1/memories/{memory_id}/", tag = "mem0",
    security(("api_key" = [])), params(("memory_id" = Uuid, Path)), request_body = UpdateBody,
    responses(
        (status = 200, description = "The memory as it is now", body = Mem0Memory),
        (status = 400, description = "No text, or metadata (PIKA keeps none per memory)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No live memory with this id for this tenant",
            body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip(state, tenant, request, body), fields(tenant = %tenant.0))]
async fn update_memory(
    State(state): State<AppState>,
    tenant: Tenant,
    request: RequestId,
    Path(memory_id): Path<String>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Json<Mem0Memory>, ApiError> {
    let fact_id: FactId = memory_id.parse()?;
    if body.metadata.is_some() {
        return Err(ApiError::BadRequest(
            "metadata is not kept per memory; update the text".into(),
        ));
    }
    let text = body
        .text
        .ok_or_else(|| ApiError::BadRequest("text is required".into()))?;
    let unprocessable = |e: pika_domain::ValidationError| ApiError::Unprocessable(e.to_string());
    let (_, commit) = correct(&state, &tenant, request, fact_id, |_| {
        Ok(pika_domain::FactCorrection {
            value: FactValue::parse(&text).map_err(unprocessable)?,
            text: FactText::parse(&text).map_err(unprocessable)?,
            confidence: Confidence::CERTAIN,
            source: FactSource::default(),
        })
    })
    .await?;
    read_your_writes::facts_caught_up(&state, commit.position).await?;
    state
        .reads
        .fact(&tenant.0, fact_id.as_uuid())
        .await?
        .map(|fact| Json(fact.into()))
        .ok_or_else(|| ApiError::NotFound(format!("no memory {fact_id}")))
}

/// Forget one memory (a retraction, kept in its history).
#[utoipa::path(delete, path = "/v1/memories/{memory_id}/", tag = "mem0",
    security(("api_key" = [])), params(("memory_id" = Uuid, Path)),
    responses(
        (status = 200, description = "Deleted", body = Mem0Message),
        (status = 404, description = "No live memory with this id for this tenant",
            body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip(state, tenant, request), fields(tenant = %tenant.0))]
async fn delete_memory(
    State(state): State<AppState>,
    tenant: Tenant,
    request: RequestId,
    Path(memory_id): Path<String>,
) -> Result<Json<Mem0Message>, ApiError> {
    let fact_id: FactId = memory_id.parse()?;
    let owner = commits::fact_owner(&state, &tenant.0, fact_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no memory {fact_id}")))?;
    let command = UserMemoryCommand::RetractFact {
        fact_id,
        note: Some("deleted through the Mem0 API".into()),
    };
    let context = api_context(&tenant.0, request);
    let commit = commits::execute(&state, &tenant.0, &owner.user, command, &context).await?;
    read_your_writes::facts_caught_up(&state, commit.position).await?;
    Ok(Json(Mem0Message::new("Memory deleted successfully!")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteAllQuery {
    user_id: Option<String>,
    #[serde(flatten)]
    #[param(value_type = Object)]
    rest: serde_json::Map<String, Value>,
}

/// Forget all of a user's memories (`?user_id=`): the user is forgotten, as
/// `DELETE /v1/users/{user_id}` does.
#[utoipa::path(delete, path = "/v1/memories/", tag = "mem0", security(("api_key" = [])),
    params(("user_id" = String, Query)),
    responses(
        (status = 200, description = "Deleted", body = Mem0Message),
        (status = 400, description = "No user_id, or another entity", body = Problem,
            content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip(state, tenant, request, query), fields(tenant = %tenant.0))]
async fn delete_all(
    State(state): State<AppState>,
    tenant: Tenant,
    request: RequestId,
    ApiQuery(query): ApiQuery<DeleteAllQuery>,
) -> Result<Json<Mem0Message>, ApiError> {
    refuse_other_entities(&query.rest)?;
    let user = user_in(None, query.user_id.as_deref())?;
    forget(&state, &tenant, request, &user).await?;
    Ok(Json(Mem0Message::new("Memories deleted successfully!")))
}

/// Forgets a user; one this tenant never wrote to has nothing to forget.
async fn forget(
    state: &AppState,
    tenant: &Tenant,
    request: RequestId,
    user: &pika_domain::UserId,
) -> Result<bool, ApiError> {
    if commits::head(state, &tenant.0, user).await?.is_none() {
        return Ok(false);
    }
    let context = api_context(&tenant.0, request);
    let commit = commits::execute(
        state,
        &tenant.0,
        user,
        UserMemoryCommand::ForgetUser,
        &context,
    )
    .await?;
    read_your_writes::facts_caught_up(state, commit.position).await?;
    // The user's turns go too, and `users` lists anyone with turns: wait for them as well.
    read_your_writes::wait_for(
        state.reads.as_ref(),
        &state.progress,
        EpisodesProjection.name(),
        commit.position,
    )
    .await?;
    Ok(true)
}

#[derive(Debug, Serialize, ToSchema)]
struct HistoryEntry {
    id: String,
    memory_id: Uuid,
    user_id: String,
    old_memory: Option<String>,
    new_memory: Option<String>,
    /// `ADD`, `UPDATE` or `DELETE`.
    event: &'static str,
    created_at: chrono::DateTime<chrono::Utc>,
    /// Who made the change and the request behind it: PIKA's audit trail.
    actor: Option<String>,
    correlation_id: Option<String>,
}

/// Every version of a memory, oldest first.
#[utoipa::path(get, path = "/v1/memories/{memory_id}/history/", tag = "mem0",
    security(("api_key" = [])), params(("memory_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The versions", body = Vec<HistoryEntry>),
        (status = 404, description = "No memory with this id for this tenant", body = Problem,
            content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn memory_history(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(memory_id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let fact_id: FactId = memory_id.parse()?;
    let history = state
        .reads
        .fact_history(&tenant.0, fact_id.as_uuid())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no memory {fact_id}")))?;
    let mut shown: Option<String> = None;
    let entries = history
        .versions
        .into_iter()
        .map(|version| {
            let event = match version.event.as_str() {
                "FactAdded" => "ADD",
                "FactRetracted" => "DELETE",
                _ => "UPDATE",
            };
            let new_memory = (event != "DELETE").then(|| version.text.unwrap_or(version.value));
            let old_memory = shown.clone();
            if let Some(text) = &new_memory {
                shown = Some(text.clone());
            }
            HistoryEntry {
                id: format!("{}-{}", history.fact_id, version.sequence),
                memory_id: history.fact_id,
                user_id: history.user_id.clone(),
                old_memory,
                new_memory,
                event,
                created_at: version.at,
                actor: version.actor,
                correlation_id: version.correlation_id,
            }
        })
        .collect();
    Ok(Json(entries))
}

#[derive(Debug, Serialize, ToSchema)]
struct Entity {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    total_memories: i64,
}

#[derive(Debug, Serialize, ToSchema)]
struct Entities {
    count: usize,
    results: Vec<Entity>,
}

/// The tenant's users with anything remembered (facts or conversation turns), by id; the
/// first 1,000, since Mem0's client reads a single page.
#[utoipa::path(get, path = "/v1/entities/", tag = "mem0", security(("api_key" = [])),
    responses((status = 200, description = "The users", body = Entities)))]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn users(State(state): State<AppState>, tenant: Tenant) -> Result<Json<Entities>, ApiError> {
    let page = UserPage {
        after: None,
        prefix: None,
        limit: MAX_USERS,
    };
    let users = state.reads.users(&tenant.0, page).await?;
    let results: Vec<Entity> = users
        .into_iter()
        .map(|user| Entity {
            id: user.user_id.clone(),
            name: user.user_id,
            kind: "user",
            total_memories: user.live_facts,
        })
        .collect();
    Ok(Json(Entities {
        count: results.len(),
        results,
    }))
}

/// Forget a user (`/v2/entities/user/{user_id}/`); other entity types are not kept.
#[utoipa::path(delete, path = "/v2/entities/{entity_type}/{entity_id}/", tag = "mem0",
    security(("api_key" = [])),
    params(("entity_type" = String, Path, pattern = "^user$", description = "`user`"),
        ("entity_id" = String, Path, pattern = "^[A-Za-z0-9_.:@-]{1,128}$")),
    responses(
        (status = 200, description = "Forgotten", body = Mem0Message),
        (status = 400, description = "An entity type other than user", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "A user this tenant never wrote to", body = Problem,
            content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip(state, tenant, request), fields(tenant = %tenant.0))]
async fn delete_entity(
    State(state): State<AppState>,
    tenant: Tenant,
    request: RequestId,
    Path((entity_type, entity_id)): Path<(String, String)>,
) -> Result<Json<Mem0Message>, ApiError> {
    if entity_type != "user" {
        return Err(ApiError::BadRequest(format!(
            "entity type {entity_type:?} is not supported: only user"
        )));
    }
    let user = user_in(None, Some(&entity_id))?;
    if !forget(&state, &tenant, request, &user).await? {
        return Err(ApiError::NotFound(format!("no user {user}")));
    }
    Ok(Json(Mem0Message::new("Entity deleted successfully.")))
}
