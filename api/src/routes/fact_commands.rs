//! Changing a user's memory by hand: add, correct and retract a fact, forget a user.
//!
//! Every answer carries `position`, the global log position of the commit: passed back as
//! `min_position` to `GET /v1/users/{user_id}/facts` or `GET /v1/facts/{fact_id}`, it makes
//! the read wait until the read model shows the change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use pika_commands::CommandContext;
use pika_domain::{
    Confidence, FactCandidate, FactCorrection, FactId, FactKey, FactSource, FactText, FactValue,
    Language, LiveFact, RetractReason, TenantId, UserId, UserMemoryCommand, UserMemoryEvent,
    fact_passage,
};
use pika_worker::embedding::store::FactEmbeddings;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Tenant;
use crate::commits::{self, Commit, FactOwner};
use crate::extract::{ApiJson, ApiQuery, RequestId};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// The language of a hand-added fact that does not name one.
const DEFAULT_LANGUAGE: &str = "en";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_fact))
        .routes(routes!(forget_user))
        .routes(routes!(correct_fact, retract_fact))
}

/// Events record who changed a fact; a hand edit names the tenant whose key made it.
pub(crate) fn api_context(tenant: &TenantId, request: RequestId) -> CommandContext {
    CommandContext::new(request.0, format!("api:{tenant}"))
}

/// A fact without a sentence still needs one to be found by search; `key: value` reads well
/// enough in either language.
fn text_or_default(
    text: Option<FactText>,
    key: &FactKey,
    value: &FactValue,
) -> Result<FactText, ApiError> {
    match text {
        Some(text) => Ok(text),
        None => FactText::parse(&format!("{key}: {value}"))
            .map_err(|e| ApiError::Unprocessable(e.to_string())),
    }
}

/// The vector is stored before the commit so the `facts` projection attaches it; without it
/// search still finds the fact by keyword, so a failure is counted, not fatal.
async fn embed(state: &AppState, key: &FactKey, text: &FactText) {
    let embeddings = FactEmbeddings::new(state.embedder.clone(), state.backend.embedding_cache());
    let passage = fact_passage(key.as_str(), text.as_str());
    if let Err(error) = embeddings.ensure(&[passage]).await {
        metrics::counter!("pika_embedding_failures_total").increment(1);
        tracing::warn!(%error, "fact committed without a vector");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Added,
    Updated,
    Unchanged,
}

/// The fact a command left live.
#[derive(Debug, Serialize, ToSchema)]
struct FactWritten {
    fact_id: Uuid,
    user_id: String,
    key: String,
    value: String,
    text: String,
    version: u32,
    outcome: Outcome,
    /// Facts of the opposite sentiment about the same thing, retracted by this one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    retracted: Vec<Uuid>,
    position: i64,
}

impl FactWritten {
    /// Reads the answer from the commit; `None` when the command changed nothing.
    fn from_commit(user: &UserId, commit: &Commit) -> Option<Self> {
        let mut written = None;
        let mut retracted = Vec::new();
        for event in &commit.events {
            let fact = match event {
                UserMemoryEvent::FactAdded {
                    fact_id,
                    key,
                    value,
                    text,
                    ..
                } => (*fact_id, key, value, text, 1, Outcome::Added),
                UserMemoryEvent::FactUpdated {
                    fact_id,
                    key,
                    new_value,
                    text,
                    version,
                    ..
                } => (*fact_id, key, new_value, text, *version, Outcome::Updated),
                UserMemoryEvent::FactRetracted {
                    fact_id,
                    reason: RetractReason::Contradicted { .. },
                    ..
                } => {
                    retracted.push(fact_id.as_uuid());
                    continue;
                }
                _ => continue,
            };
            written = Some(fact);
        }
        let (fact_id, key, value, text, version, outcome) = written?;
        Some(Self {
            fact_id: fact_id.as_uuid(),
            user_id: user.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            text: text.to_string(),
            version,
            outcome,
            retracted,
            position: commit.position,
        })
    }

    /// The live fact that made the command a no-op, from the aggregate itself.
    async fn unchanged(
        state: &AppState,
        tenant: &TenantId,
        user: &UserId,
        position: i64,
        matches: impl Fn(&FactId, &LiveFact) -> bool,
    ) -> Result<Self, ApiError> {
        let memory = state.write_model.load_user_memory(tenant, user).await?;
        let (fact_id, fact) = memory
            .live_facts()
            .iter()
            .find(|(id, fact)| matches(id, fact))
            .ok_or_else(|| ApiError::Conflict("the fact changed meanwhile; retry".into()))?;
        Ok(Self {
            fact_id: fact_id.as_uuid(),
            user_id: user.to_string(),
            key: fact.key.to_string(),
            value: fact.value.to_string(),
            text: fact.text.to_string(),
            version: fact.version,
            outcome: Outcome::Unchanged,
            retracted: Vec::new(),
            position,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddFactBody {
    /// Dotted lowercase segments; the family (`favorite`, `likes`, `pet`, …) decides the
    /// fact's kind and whether a new value replaces the old one.
    #[schema(value_type = String, pattern = "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*){0,3}$",
        max_length = 64, example = "favorite.food")]
    key: FactKey,
    #[schema(value_type = String, min_length = 1, max_length = 200, example = "pizza")]
    value: FactValue,
    /// Without it the text is `key: value`, so search still has words to match.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1000)]
    text: Option<FactText>,
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1, default = 1)]
    confidence: Option<Confidence>,
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z][A-Za-z-]{1,11}$", default = "en")]
    language: Option<Language>,
}

impl AddFactBody {
    fn into_candidate(self) -> Result<FactCandidate, ApiError> {
        let language = match self.language {
            Some(language) => language,
            None => Language::parse(DEFAULT_LANGUAGE).map_err(|e| ApiError::Internal(e.into()))?,
        };
        Ok(FactCandidate {
            text: text_or_default(self.text, &self.key, &self.value)?,
            key: self.key,
            value: self.value,
            confidence: self.confidence.unwrap_or(Confidence::CERTAIN),
            language,
            source: FactSource::default(),
        })
    }
}

/// 201 and a `Location` for a new fact; 200 when a single-valued key updated the live fact,
/// or when the user already had this value (nothing is written then).
fn created_or_updated(written: FactWritten) -> (StatusCode, HeaderMap, Json<FactWritten>) {
    let mut headers = HeaderMap::new();
    if written.outcome != Outcome::Added {
        return (StatusCode::OK, headers, Json(written));
    }
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/facts/{}", written.fact_id)) {
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::CREATED, headers, Json(written))
}

/// Add a fact by hand.
///
/// A single-valued key (`name`, `favorite.*`, …) updates the live fact instead of adding a
/// second one, and a value of the opposite sentiment (`dislikes.food` = pizza against
/// `likes.food` = pizza) retracts the old fact, since a person holds one view at a time.
#[utoipa::path(
    post,
    path = "/v1/users/{user_id}/facts",
    tag = "facts",
    security(("api_key" = [])),
    params(("user_id" = String, Path, pattern = "^[A-Za-z0-9_.:@-]{1,128}$")),
    request_body = AddFactBody,
    responses(
        (status = 201, description = "Added", body = FactWritten,
            headers(("Location" = String, description = "`/v1/facts/{fact_id}`")),
            links(
                ("fact" = (operation_id = "one_fact", parameters(
                    ("fact_id" = "$response.body#/fact_id"),
                    ("min_position" = "$response.body#/position")))),
                ("history" = (operation_id = "fact_history",
                    parameters(("fact_id" = "$response.body#/fact_id")))),
                ("correct" = (operation_id = "correct_fact",
                    parameters(("fact_id" = "$response.body#/fact_id")))),
                ("retract" = (operation_id = "retract_fact",
                    parameters(("fact_id" = "$response.body#/fact_id")))),
                ("facts" = (operation_id = "list_facts", parameters(
                    ("user_id" = "$response.body#/user_id"),
                    ("min_position" = "$response.body#/position")))),
            )),
        (status = 200, description = "Updated the live fact of a single-valued key, or unchanged \
            (the user already had this value)", body = FactWritten),
        (status = 400, description = "A bad user id or malformed JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "The value is already live on this multi-valued key, or \
            the user has too many facts", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "Over 1 MiB", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "A bad key, value, text, confidence or language, or an \
            unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The event store is unavailable, or too many concurrent \
            changes to this user; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant, request, body), fields(tenant = %tenant.0))]
async fn add_fact(
    State(state): State<AppState>,
    tenant: Tenant,
    request: RequestId,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<AddFactBody>,
) -> Result<(StatusCode, HeaderMap, Json<FactWritten>), ApiError> {
    let user = UserId::parse(&user_id)?;
    let candidate = body.into_candidate()?;
    embed(&state, &candidate.key, &candidate.text).await;
    let (key, wanted) = (candidate.key.clone(), candidate.value.match_key());
    let fact_id = FactId::generate();
    let command = UserMemoryCommand::AddFact { fact_id, candidate };
    let context = api_context(&tenant.0, request);
    let commit = commits::execute(&state, &tenant.0, &user, command, &context).await?;
    let written = match FactWritten::from_commit(&user, &commit) {
        Some(written) => written,
        None => {
            let same = |_: &FactId, f: &LiveFact| f.key == key && f.value.match_key() == wanted;
            FactWritten::unchanged(&state, &tenant.0, &user, commit.position, same).await?
        }
    };
    Ok(created_or_updated(written))
}

/// Another tenant's fact is as unknown as a fact that never existed, so an id tells a caller
/// nothing about other tenants.
async fn owner_of(
    state: &AppState,
    tenant: &TenantId,
    fact_id: FactId,
) -> Result<FactOwner, ApiError> {
    commits::fact_owner(state, tenant, fact_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no fact {fact_id}")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CorrectFactBody {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    value: FactValue,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1000)]
    text: Option<FactText>,
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1, default = 1)]
    confidence: Option<Confidence>,
}

/// Correct a fact's value.
///
/// The fact keeps its id and key; a person correcting it is taken as certain unless they say
/// otherwise.
#[utoipa::path(
    patch,
    path = "/v1/facts/{fact_id}",
    tag = "facts",
    security(("api_key" = [])),
    params(("fact_id" = Uuid, Path)),
    request_body = CorrectFactBody,
    responses(
        (status = 200, description = "Updated, or unchanged when the fact already had this value",
            body = FactWritten),
        (status = 400, description = "A bad fact id or malformed JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such fact for this tenant", body = Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "The fact is retracted, or the value is already live on \
            another fact of this key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 1 MiB", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "A bad value, text or confidence, or an unknown field",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The event store is unavailable, or too many concurrent \
            changes to this user; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant, request, body), fields(tenant = %tenant.0))]
async fn correct_fact(
    State(state): State<AppState>,
    tenant: Tenant,
    request: RequestId,
    Path(fact_id): Path<String>,
    ApiJson(body): ApiJson<CorrectFactBody>,
) -> Result<Json<FactWritten>, ApiError> {
    let fact_id: FactId = fact_id.parse()?;
    let (owner, commit) = correct(&state, &tenant, request, fact_id, |owner| {
        Ok(FactCorrection {
            text: text_or_default(body.text, &owner.key, &body.value)?,
            value: body.value,
            confidence: body.confidence.unwrap_or(Confidence::CERTAIN),
            source: FactSource::default(),
        })
    })
    .await?;
    match FactWritten::from_commit(&owner.user, &commit) {
        Some(written) => Ok(Json(written)),
        None => {
            let same = |id: &FactId, _: &LiveFact| *id == fact_id;
            let unchanged =
                FactWritten::unchanged(&state, &tenant.0, &owner.user, commit.position, same);
            Ok(Json(unchanged.await?))
        }
    }
}

/// Commits a correction of a tenant's fact, made from its owner and key, with the new text's
/// vector stored first; shared by `PATCH /v1/facts/{id}` and Mem0's update.
pub(crate) async fn correct(
    state: &AppState,
    tenant: &Tenant,
    request: RequestId,
    fact_id: FactId,
    correction_for: impl FnOnce(&FactOwner) -> Result<FactCorrection, ApiError>,
) -> Result<(FactOwner, Commit), ApiError> {
    let owner = owner_of(state, &tenant.0, fact_id).await?;
    let correction = correction_for(&owner)?;
    embed(state, &owner.key, &correction.text).await;
    let command = UserMemoryCommand::CorrectFact {
        fact_id,
        correction,
    };
    let context = api_context(&tenant.0, request);
    let commit = commits::execute(state, &tenant.0, &owner.user, command, &context).await?;
    Ok((owner, commit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RetractQuery {
    /// Why, kept in the audit trail. A query parameter rather than a body, since many clients
    /// and proxies drop the body of a DELETE.
    #[param(max_length = 500)]
    reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct FactRetracted {
    fact_id: Uuid,
    user_id: String,
    position: i64,
}

/// Retract a fact.
///
/// Its history stays in the event log, so `/history` still shows every version.
#[utoipa::path(
    delete,
    path = "/v1/facts/{fact_id}",
    tag = "facts",
    security(("api_key" = [])),
    params(("fact_id" = Uuid, Path), RetractQuery),
    responses(
        (status = 200, description = "Retracted", body = FactRetracted),
        (status = 400, description = "A bad fact id or query parameter", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such fact for this tenant", body = Problem,
            content_type = "application/problem+json"),
        (status = 409, description = "Already retracted", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "A reason over 500 characters", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "The event store is unavailable, or too many concurrent \
            changes to this user; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant, request, query), fields(tenant = %tenant.0))]
async fn retract_fact(
    State(state): State<AppState>,
    tenant: Tenant,
    request: RequestId,
    Path(fact_id): Path<String>,
    ApiQuery(query): ApiQuery<RetractQuery>,
) -> Result<Json<FactRetracted>, ApiError> {
    let fact_id: FactId = fact_id.parse()?;
    let owner = owner_of(&state, &tenant.0, fact_id).await?;
    let note = query
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let command = UserMemoryCommand::RetractFact { fact_id, note };
    let context = api_context(&tenant.0, request);
    let commit = commits::execute(&state, &tenant.0, &owner.user, command, &context).await?;
    Ok(Json(FactRetracted {
        fact_id: fact_id.as_uuid(),
        user_id: owner.user.to_string(),
        position: commit.position,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
struct UserForgotten {
    user_id: String,
    facts_retracted: u32,
    position: i64,
}

/// Forget a user: retract every live fact.
///
/// 202: the log has forgotten the user when this answers; the read models and caches follow
/// within moments (`min_position` waits for the facts).
#[utoipa::path(
    delete,
    path = "/v1/users/{user_id}",
    tag = "facts",
    security(("api_key" = [])),
    params(("user_id" = String, Path, pattern = "^[A-Za-z0-9_.:@-]{1,128}$")),
    responses(
        (status = 202, description = "Forgotten in the log; the read models follow",
            body = UserForgotten),
        (status = 400, description = "A bad user id", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "A user this tenant never wrote to", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "The event store is unavailable, or too many concurrent \
            changes to this user; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant, request), fields(tenant = %tenant.0))]
async fn forget_user(
    State(state): State<AppState>,
    tenant: Tenant,
    request: RequestId,
    Path(user_id): Path<String>,
) -> Result<(StatusCode, Json<UserForgotten>), ApiError> {
    let user = UserId::parse(&user_id)?;
    if commits::head(&state, &tenant.0, &user).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user {user}")));
    }
    let context = api_context(&tenant.0, request);
    let command = UserMemoryCommand::ForgetUser;
    let commit = commits::execute(&state, &tenant.0, &user, command, &context).await?;
    let facts_retracted = commit
        .events
        .iter()
        .find_map(|event| match event {
            UserMemoryEvent::UserForgotten { facts_retracted } => Some(*facts_retracted),
            _ => None,
        })
        .unwrap_or_default();
    let body = UserForgotten {
        user_id: user.to_string(),
        facts_retracted,
        position: commit.position,
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}
