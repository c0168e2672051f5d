//! RFC 7807 problem responses: the one place an error becomes an HTTP answer.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Errors every handler can return. Client errors say what to fix; server errors are logged
/// with their cause and answered without internals.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid API key is required: Authorization: Bearer <secret>")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Unprocessable(String),
    /// The request is valid but the current state forbids it (a retracted fact, a duplicate).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The tenant is over its request limits; the answer says when to retry.
    #[error("{0}")]
    TooManyRequests(String),
    /// A dependency is down or overloaded; the client may retry.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// An RFC 7807 problem document, the body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "/problems/not-found",
    "title": "Not found",
    "status": 404,
    "detail": "no fact 0190f3a4-5b6c-7d8e-9f00-112233445566"
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let challenge = matches!(self, Self::Unauthorized);
        let problem = match self {
            Self::BadRequest(detail) => Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                detail,
            ),
            Self::Unauthorized => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
                "a valid API key is required: Authorization: Bearer <secret>",
            ),
            Self::NotFound(detail) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
            }
            Self::MethodNotAllowed(detail) => Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                detail,
            ),
            Self::Unprocessable(detail) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid request",
                detail,
            ),
            Self::Conflict(detail) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
            }
            Self::PayloadTooLarge(detail) => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
                detail,
            ),
            Self::UnsupportedMediaType => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "expected a JSON body (Content-Type: application/json)",
            ),
            Self::TooManyRequests(detail) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
                detail,
            ),
            Self::Unavailable(detail) => {
                tracing::warn!(%detail, "dependency unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    detail,
                )
            }
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "the server failed to handle the request; it has been logged",
                )
            }
        };
        let mut response = problem.into_response();
        if challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl<E: std::error::Error + Into<ApiError>> From<pika_commands::CommandError<E>> for ApiError {
    fn from(error: pika_commands::CommandError<E>) -> Self {
        use pika_commands::CommandError;
        match error {
            CommandError::Rejected(rule) => rule.into(),
            CommandError::Conflict { .. } => {
                Self::Unavailable("too many concurrent changes to this user; retry".into())
            }
            CommandError::Storage(cause) => {
                tracing::error!(error = %cause, "event store error");
                Self::Unavailable("the event store is unavailable; retry".into())
            }
        }
    }
}

/// Each domain refusal has one status: a fact the user does not have is unknown, a rule the
/// current state breaks is a conflict the client may resolve, anything else is invalid input.
impl From<pika_domain::UserMemoryError> for ApiError {
    fn from(error: pika_domain::UserMemoryError) -> Self {
        use pika_domain::UserMemoryError as E;
        let detail = error.to_string();
        match error {
            E::FactNotFound(_) => Self::NotFound(detail),
            E::FactRetracted(_)
            | E::DuplicateFactId(_)
            | E::DuplicateValue { .. }
            | E::TooManyFacts { .. } => Self::Conflict(detail),
            E::TooManyOperations { .. } | E::RepeatedOperation(_) | E::NoteTooLong { .. } => {
                Self::Unprocessable(detail)
            }
        }
    }
}

impl From<pika_domain::ExtractionJobError> for ApiError {
    fn from(error: pika_domain::ExtractionJobError) -> Self {
        use pika_domain::ExtractionJobError as E;
        let detail = error.to_string();
        match error {
            E::UnknownJob => Self::NotFound(detail),
            E::AlreadySubmitted | E::IllegalTransition { .. } => Self::Conflict(detail),
            E::Invalid(_) => Self::Unprocessable(detail),
        }
    }
}

/// A lost connection is the client's to retry; any other database error is our bug.
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed => {
                tracing::error!(error = %error, "database error");
                Self::Unavailable("the database is unavailable; retry".into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<pika_projections::ProjectionError> for ApiError {
    fn from(error: pika_projections::ProjectionError) -> Self {
        match error {
            pika_projections::ProjectionError::Database(cause) => {
                tracing::error!(error = %cause, "read model error");
                Self::Unavailable("the read models are unavailable; retry".into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<pika_domain::ValidationError> for ApiError {
    fn from(error: pika_domain::ValidationError) -> Self {
        Self::BadRequest(error.to_string())
    }
}

/// Unknown routes answer in the same format as every other error.
pub async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// A known route with a method it does not serve; axum still adds the `Allow` header.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not served at {}", uri.path()))
}
