//! Extractors whose rejections use our problem format instead of axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// Query parameters, with unknown or malformed ones answered as a 400 problem.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // Postgres text cannot hold NUL, so a value carrying one would fail at commit as a
        // storage error; `%00` is the only way a URI carries it.
        if query.contains("%00") {
            return Err(ApiError::BadRequest(
                "query string: NUL characters (%00) are not allowed".into(),
            ));
        }
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))
    }
}

/// A JSON body: wrong content type (415), oversized (413), malformed (400) and invalid (422)
/// bodies all answer with a problem document.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(format!(
                        "the body is larger than {} bytes",
                        crate::app::MAX_BODY_BYTES
                    ))
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        let value = serde_json::from_slice(&bytes).map_err(|error| {
            use serde_json::error::Category;
            match error.classify() {
                Category::Data => ApiError::Unprocessable(format!("invalid body: {error}")),
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::BadRequest(format!("malformed JSON: {error}"))
                }
            }
        })?;
        // Postgres text and jsonb cannot hold NUL, so a string carrying one would fail at
        // commit as a storage error instead of being refused as input.
        if has_escaped_nul(&bytes) {
            return Err(ApiError::Unprocessable(
                "invalid body: strings must not contain NUL (\\u0000)".into(),
            ));
        }
        Ok(ApiJson(value))
    }
}

/// Whether a valid JSON document holds a `\u0000` escape. A raw NUL is not valid JSON, and
/// outside strings a backslash cannot occur, so following escapes pair by pair is enough: an
/// escaped backslash followed by the text `u0000` is not a NUL.
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut rest = json;
    while let Some(at) = rest.iter().position(|&b| b == b'\\') {
        let escape = &rest[at + 1..];
        if escape.starts_with(b"u0000") {
            return true;
        }
        rest = escape.get(1..).unwrap_or_default();
    }
    false
}

/// The request's `x-request-id` (set by the request-id layer when the client sent none), used
/// as the correlation id of what the request commits so its events lead back to its logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
        Ok(Self(id))
    }
}

#[cfg(test)]
mod tests {
    use super::has_escaped_nul;

    #[test]
    fn only_a_real_nul_escape_counts() {
        assert!(has_escaped_nul(br#"{"a":"x\u0000y"}"#));
        assert!(has_escaped_nul(br#"{"a\u0000":1}"#));
        assert!(has_escaped_nul(br#"["\\", "\u0000"]"#));
        assert!(!has_escaped_nul(br#"{"a":"x\\u0000y"}"#));
        assert!(!has_escaped_nul(br#"{"a":"\u00e9 \n \\"}"#));
        assert!(!has_escaped_nul(br#"{"a":"u0000"}"#));
    }
}
