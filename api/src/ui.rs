//! The Inspector: a page for operators and support staff to see what PIKA remembers about a
//! user, where each fact came from and what changed it, and to fix or erase it.
//!
//! It is a small static app compiled into the binary (no CDN, works offline, nothing to
//! install) that talks to the public API with the operator's API key. The key lives only in
//! the page's memory — never in a URL, a cookie or storage — so the server keeps no session
//! and every call is checked, scoped and rate-limited exactly as any client's. The strict
//! content security policy means a fact text that looks like HTML can never run as script.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::problem::ApiError;

const INDEX_HTML: &str = include_str!("../ui/index.html");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The page's assets under `/ui/`: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "inspector.css",
        "text/css; charset=utf-8",
        include_str!("../ui/inspector.css"),
    ),
    (
        "controls.css",
        "text/css; charset=utf-8",
        include_str!("../ui/controls.css"),
    ),
    (
        "components.css",
        "text/css; charset=utf-8",
        include_str!("../ui/components.css"),
    ),
    (
        "inspector.js",
        JAVASCRIPT,
        include_str!("../ui/inspector.js"),
    ),
    ("dom.js", JAVASCRIPT, include_str!("../ui/dom.js")),
    ("api.js", JAVASCRIPT, include_str!("../ui/api.js")),
    ("chrome.js", JAVASCRIPT, include_str!("../ui/chrome.js")),
    ("pages.js", JAVASCRIPT, include_str!("../ui/pages.js")),
    (
        "user_page.js",
        JAVASCRIPT,
        include_str!("../ui/user_page.js"),
    ),
    (
        "user_facts.js",
        JAVASCRIPT,
        include_str!("../ui/user_facts.js"),
    ),
    (
        "user_conversation.js",
        JAVASCRIPT,
        include_str!("../ui/user_conversation.js"),
    ),
    (
        "user_search.js",
        JAVASCRIPT,
        include_str!("../ui/user_search.js"),
    ),
];

/// Only our own origin, no inline script or style, no framing (clickjacking of the "forget"
/// button), forms post nowhere else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    form-action 'self'; base-uri 'none'";

/// `/ui` and its assets; no key needed to load the page, every API call it makes needs one.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/ui",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route("/ui/{file}", get(ui_asset))
}

async fn ui_asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => asset(content_type, body),
        None => ApiError::NotFound(format!("no Inspector asset {file}")).into_response(),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // Assets change with the binary; revalidating costs one small request.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy forbids inline script and style, so the page must not rely on them: a page
    /// that did would load blank in every browser.
    #[test]
    fn the_page_has_no_inline_script_style_or_handlers() {
        let lower = INDEX_HTML.to_lowercase();
        assert!(
            !lower.contains("<style"),
            "inline <style> is blocked by the CSP"
        );
        assert!(
            !lower.contains(" style="),
            "style attributes are blocked by the CSP"
        );
        assert!(
            !lower.contains(" onclick="),
            "inline handlers are blocked by the CSP"
        );
        for script in lower.split("<script").skip(1) {
            let tag = &script[..script.find('>').unwrap_or(script.len())];
            assert!(
                tag.contains("src="),
                "inline <script> is blocked by the CSP"
            );
        }
        assert!(INDEX_HTML.contains("/ui/inspector.js"));
        assert!(INDEX_HTML.contains("/ui/inspector.css"));
    }

    /// No asset may come from elsewhere: the page has to work offline.
    #[test]
    fn nothing_is_loaded_from_another_origin() {
        let assets = ASSETS.iter().map(|(_, _, body)| *body);
        for text in std::iter::once(INDEX_HTML).chain(assets) {
            assert!(
                !text.contains("http://"),
                "an absolute http URL in the Inspector"
            );
            assert!(
                !text.contains("https://"),
                "an absolute https URL in the Inspector"
            );
        }
    }
}
