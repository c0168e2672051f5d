//! Submitting conversations for extraction and following the jobs.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use chrono::{DateTime, Utc};
use pika_commands::{CommandContext, CommandError};
use pika_domain::{
    ChatMessage, Conversation, ExtractionJobCommand, ExtractionJobError, JobId, JobStatus, Role,
    UserId, ValidationError,
};
use pika_projections::jobs::JobView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Tenant;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Namespace of job ids derived from idempotency keys.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x5d0c_6a0e_8b1f_4a4e_9c2d_7e3f_1a2b_3c4d);
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// The longest a client may long-poll a job.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(30);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit))
        .routes(routes!(job_status))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    #[schema(pattern = "^[A-Za-z0-9_.:@-]{1,128}$")]
    user_id: String,
    #[schema(min_items = 1, max_items = 200)]
    messages: Vec<MessageBody>,
    /// Kept with the job as it is, up to 16 KiB of JSON.
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    /// When the conversation took place (RFC 3339): the time of every message without its
    /// own `sent_at`. Default: when it is submitted.
    #[serde(default)]
    occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    #[schema(schema_with = role_schema)]
    role: Role,
    #[schema(min_length = 1, max_length = 8000)]
    content: String,
    /// Who spoke ("Caroline"), so the conversation is searchable by speaker.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    name: Option<String>,
    /// When this message was said (RFC 3339); default: the conversation's `occurred_at`.
    #[serde(default)]
    sent_at: Option<DateTime<Utc>>,
}

/// `Role` belongs to the domain crate, which stays free of HTTP concerns such as schemas.
pub(crate) fn role_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["user", "assistant", "system"]))
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
struct Accepted {
    job_id: Uuid,
    /// `queued`, or the job's current status when an `Idempotency-Key` repeats a submission.
    status: String,
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ))
        })?;
    Ok(Some(key.to_owned()))
}

fn conversation(
    messages: Vec<MessageBody>,
    occurred_at: Option<DateTime<Utc>>,
) -> Result<Conversation, ApiError> {
    if messages.len() > Conversation::MAX_MESSAGES {
        return Err(ApiError::Unprocessable(format!(
            "messages: at most {} per extraction",
            Conversation::MAX_MESSAGES
        )));
    }
    let messages = messages
        .into_iter()
        .enumerate()
        .map(|(index, m)| {
            let invalid =
                |e: ValidationError| ApiError::Unprocessable(format!("messages[{index}].{e}"));
            let mut message = ChatMessage::new(m.role, &m.content).map_err(invalid)?;
            if let Some(name) = &m.name {
                message = message.with_name(name).map_err(invalid)?;
            }
            if let Some(at) = m.sent_at.or(occurred_at) {
                message = message.with_sent_at(at);
            }
            Ok(message)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Conversation::new(messages).map_err(|e| ApiError::Unprocessable(e.to_string()))
}

/// A conversation to commit as an `ExtractionJob`, from `/v1/extractions` or Mem0's `add`.
pub(crate) struct Submission {
    pub(crate) user_id: UserId,
    pub(crate) conversation: Conversation,
    pub(crate) metadata: serde_json::Value,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) extract_facts: bool,
}

/// Commits the job (so it is never lost once this returns) and answers its id and status:
/// `queued`, or the first job's status when its idempotency key repeats.
pub(crate) async fn submit_conversation(
    state: &AppState,
    tenant: &Tenant,
    submission: Submission,
) -> Result<(JobId, String), ApiError> {
    let key = submission.idempotency_key;
    let job_id = key.as_ref().map_or_else(JobId::generate, |key| {
        JobId::from_uuid(Uuid::new_v5(
            &IDEMPOTENCY_NAMESPACE,
            format!("{}\n{key}", tenant.0).as_bytes(),
        ))
    });
    let command = ExtractionJobCommand::Submit {
        tenant: tenant.0.clone(),
        user_id: submission.user_id,
        conversation: submission.conversation,
        metadata: submission.metadata,
        idempotency_key: key.clone(),
        extract_facts: submission.extract_facts,
    };
    let context = CommandContext::new(job_id.to_string(), format!("api:{}", tenant.0));
    let status = match state
        .write_model
        .execute_extraction_job(&tenant.0, &job_id, command, &context)
        .await
    {
        Ok(()) => "queued".to_owned(),
        // The same key again: the first request's job answers.
        Err(CommandError::Rejected(ExtractionJobError::AlreadySubmitted)) if key.is_some() => state
            .reads
            .job_view(&tenant.0, job_id.as_uuid(), &state.job_gating)
            .await?
            .map_or_else(|| "queued".to_owned(), |view| view.status),
        Err(CommandError::Rejected(ExtractionJobError::Invalid(e))) => {
            return Err(ApiError::Unprocessable(e.to_string()));
        }
        Err(error) => return Err(error.into()),
    };
    Ok((job_id, status))
}

/// Submit a conversation for fact extraction.
///
/// The job is committed before this answers, so an accepted job is never lost. A repeated
/// `Idempotency-Key` answers with the first request's job instead of submitting again.
#[utoipa::path(
    post,
    path = "/v1/extractions",
    tag = "extraction",
    security(("api_key" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
            description = "The same key returns the same job for a repeated request"),
    ),
    request_body = SubmitBody,
    responses(
        (status = 202, description = "Accepted: the job is queued", body = Accepted,
            headers(("Location" = String, description = "`/v1/jobs/{job_id}`")),
            links(("status" = (operation_id = "job_status",
                parameters(("job_id" = "$response.body#/job_id")))))),
        (status = 400, description = "Malformed JSON or a bad Idempotency-Key", body = Problem,
            content_type = "application/problem+json"),
        (status = 413, description = "Over 1 MiB", body = Problem,
            content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "A bad user id, message or metadata, or an unknown field",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The event store is unavailable; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn submit(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<(StatusCode, HeaderMap, Json<Accepted>), ApiError> {
    let user_id =
        UserId::parse(&body.user_id).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let conversation = conversation(body.messages, body.occurred_at)?;
    let key = idempotency_key(&headers)?;
    let submission = Submission {
        user_id,
        conversation,
        metadata: body.metadata.unwrap_or(serde_json::Value::Null),
        idempotency_key: key,
        extract_facts: true,
    };
    let (job_id, status) = submit_conversation(&state, &tenant, submission).await?;
    let mut response_headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/jobs/{job_id}")) {
        response_headers.insert(header::LOCATION, location);
    }
    Ok((
        StatusCode::ACCEPTED,
        response_headers,
        Json(Accepted {
            job_id: job_id.as_uuid(),
            status,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct JobQuery {
    /// Long-poll: wait up to this many seconds (at most 30) for the job to finish.
    #[param(minimum = 0)]
    wait: Option<f64>,
}

fn finished(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "dead_lettered" | "skipped")
}

/// A job's status, attempts, last error, times and result counts.
///
/// `completed` is reported only once every read model shows the job's facts, so a client that
/// waited for it reads them right after.
#[utoipa::path(
    get,
    path = "/v1/jobs/{job_id}",
    tag = "extraction",
    security(("api_key" = [])),
    params(("job_id" = Uuid, Path, description = "The id `POST /v1/extractions` answered with"), JobQuery),
    responses(
        (status = 200, description = "The job", body = crate::schemas::JobView),
        (status = 400, description = "A bad job id or query parameter", body = Problem,
            content_type = "application/problem+json"),
        (status = 404, description = "No such job for this tenant", body = Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable; retry", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn job_status(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(job_id): Path<String>,
    ApiQuery(query): ApiQuery<JobQuery>,
) -> Result<Json<JobView>, ApiError> {
    let job_id: JobId = job_id.parse()?;
    let wait = match query.wait {
        // Clamped before the conversion, which panics on more seconds than a `Duration` holds.
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Duration::from_secs_f64(seconds.min(MAX_WAIT.as_secs_f64()))
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "wait must be a number of seconds ≥ 0".into(),
            ));
        }
        None => Duration::ZERO,
    };
    Ok(Json(wait_for_job(&state, &tenant, job_id, wait).await?))
}

/// The job's view once it has finished, or as it stands when `wait` runs out; woken by the
/// projections' progress rather than polling.
pub(crate) async fn wait_for_job(
    state: &AppState,
    tenant: &Tenant,
    job_id: JobId,
    wait: Duration,
) -> Result<JobView, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut progress = state.progress.waiter();
    loop {
        let visible = match &state.visibility_gate {
            Some(gate) => Some(gate.read().await),
            None => None,
        };
        let view = match state
            .reads
            .job_view(&tenant.0, job_id.as_uuid(), &state.job_gating)
            .await?
        {
            Some(view) => view,
            None => accepted_but_not_projected(state, tenant, job_id).await?,
        };
        drop(visible);
        if finished(&view.status) || tokio::time::Instant::now() >= deadline {
            return Ok(view);
        }
        progress.next(deadline).await;
    }
}

/// A job the event store holds but the read model has not caught up with yet is `queued`,
/// not unknown: a client that polls right after submitting must not see a 404.
async fn accepted_but_not_projected(
    state: &AppState,
    tenant: &Tenant,
    job_id: JobId,
) -> Result<JobView, ApiError> {
    let job = state
        .write_model
        .load_extraction_job(&tenant.0, &job_id)
        .await?;
    let Some(submission) = job
        .submission()
        .filter(|_| job.status() != JobStatus::Unknown)
    else {
        return Err(ApiError::NotFound(format!("no job {job_id}")));
    };
    Ok(JobView::queued(
        job_id.as_uuid(),
        submission.user_id.to_string(),
    ))
}
