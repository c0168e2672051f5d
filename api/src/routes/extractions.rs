//! Submitting conversations for extraction and following the jobs.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use pika_commands::{CommandContext, CommandError};
use pika_domain::{
    ChatMessage, Conversation, ExtractionJobCommand, ExtractionJobError, JobId, JobStatus, Role,
    UserId,
};
use pika_projections::jobs::{JobView, job_view};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Tenant;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

/// Namespace of job ids derived from idempotency keys.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x5d0c_6a0e_8b1f_4a4e_9c2d_7e3f_1a2b_3c4d);
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// The longest a client may long-poll a job.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/extractions", post(submit))
        .route("/v1/jobs/{job_id}", get(job_status))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    user_id: String,
    messages: Vec<MessageBody>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    role: Role,
    content: String,
}

#[derive(Debug, Serialize)]
struct Accepted {
    job_id: Uuid,
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

fn conversation(messages: Vec<MessageBody>) -> Result<Conversation, ApiError> {
    if messages.len() > Conversation::MAX_MESSAGES {
        return Err(ApiError::PayloadTooLarge(format!(
            "at most {} messages per extraction",
            Conversation::MAX_MESSAGES
        )));
    }
    let messages = messages
        .into_iter()
        .enumerate()
        .map(|(index, m)| {
            ChatMessage::new(m.role, &m.content)
                .map_err(|e| ApiError::Unprocessable(format!("messages[{index}].{e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Conversation::new(messages).map_err(|e| ApiError::Unprocessable(e.to_string()))
}

#[tracing::instrument(skip_all, fields(tenant = %tenant.0))]
async fn submit(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SubmitBody>,
) -> Result<(StatusCode, HeaderMap, Json<Accepted>), ApiError> {
    let user_id =
        UserId::parse(&body.user_id).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let conversation = conversation(body.messages)?;
    let key = idempotency_key(&headers)?;
    let job_id = key.as_ref().map_or_else(JobId::generate, |key| {
        JobId::from_uuid(Uuid::new_v5(
            &IDEMPOTENCY_NAMESPACE,
            format!("{}\n{key}", tenant.0).as_bytes(),
        ))
    });
    let command = ExtractionJobCommand::Submit {
        tenant: tenant.0.clone(),
        user_id,
        conversation,
        metadata: body.metadata.unwrap_or(serde_json::Value::Null),
        idempotency_key: key.clone(),
    };
    let context = CommandContext::new(job_id.to_string(), format!("api:{}", tenant.0));
    let status = match state
        .write_model
        .execute_extraction_job(&tenant.0, &job_id, command, &context)
        .await
    {
        Ok(()) => "queued".to_owned(),
        // The same key again: the first request's job answers.
        Err(CommandError::Rejected(ExtractionJobError::AlreadySubmitted)) if key.is_some() => {
            job_view(
                &state.dependencies.postgres,
                &tenant.0,
                job_id.as_uuid(),
                &state.job_gating,
            )
            .await?
            .map_or_else(|| "queued".to_owned(), |view| view.status)
        }
        Err(CommandError::Rejected(ExtractionJobError::Invalid(e))) => {
            return Err(ApiError::Unprocessable(e.to_string()));
        }
        Err(error) => return Err(error.into()),
    };
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobQuery {
    /// Long-poll: wait up to this many seconds (at most 30) for the job to finish.
    wait: Option<f64>,
}

fn finished(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "dead_lettered")
}

#[tracing::instrument(skip(state, tenant), fields(tenant = %tenant.0))]
async fn job_status(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(job_id): Path<String>,
    ApiQuery(query): ApiQuery<JobQuery>,
) -> Result<Json<JobView>, ApiError> {
    let job_id: JobId = job_id.parse()?;
    let wait = match query.wait {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Duration::from_secs_f64(seconds).min(MAX_WAIT)
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "wait must be a number of seconds ≥ 0".into(),
            ));
        }
        None => Duration::ZERO,
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let view = match job_view(
            &state.dependencies.postgres,
            &tenant.0,
            job_id.as_uuid(),
            &state.job_gating,
        )
        .await?
        {
            Some(view) => view,
            None => accepted_but_not_projected(&state, &tenant, job_id).await?,
        };
        if finished(&view.status) || tokio::time::Instant::now() >= deadline {
            return Ok(Json(view));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
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
