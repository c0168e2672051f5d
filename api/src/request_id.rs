//! Bounding the client's `X-Request-Id`. It becomes the correlation id stored in the metadata
//! of every event the request commits, and the key a command's own events are found by, so an
//! unbounded one would be copied into the log as it is. A request id is advisory: one that is
//! too long or not visible ASCII is dropped and the request gets a fresh one (answered in the
//! response's `X-Request-Id`), rather than the request being refused.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// The longest client request id kept: a UUID, a trace id or a job key fits many times over.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

fn acceptable(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_CHARS && id.iter().all(u8::is_ascii_graphic)
}

/// Drops an unacceptable `X-Request-Id` before the request-id layer, which then makes one.
pub async fn bound_request_id(mut request: Request, next: Next) -> Response {
    let unacceptable = request
        .headers()
        .get_all("x-request-id")
        .iter()
        .any(|value| !acceptable(value.as_bytes()));
    if unacceptable {
        tracing::debug!(
            "client X-Request-Id dropped: over {MAX_REQUEST_ID_CHARS} characters or not visible ASCII"
        );
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_visible_ids_are_kept_and_others_are_not() {
        assert!(acceptable(b"correct-42"));
        assert!(acceptable(&[b'a'; MAX_REQUEST_ID_CHARS]));
        assert!(!acceptable(&[b'a'; MAX_REQUEST_ID_CHARS + 1]));
        assert!(!acceptable(b"with space"));
        assert!(!acceptable(b""));
    }
}
