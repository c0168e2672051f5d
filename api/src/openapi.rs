//! The OpenAPI document and the docs page.
//!
//! The document is assembled from the handlers' `#[utoipa::path]` annotations by the same
//! router calls that serve them, so it cannot list a route that is not served or miss one that
//! is. The docs page is Swagger UI from assets compiled into the binary: it works with no
//! internet, which a CDN-loaded page would not.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa_swagger_ui::Config;

use crate::problem::{ApiError, Problem};

/// The name the handlers' `security(("api_key" = []))` refers to.
const SECURITY_SCHEME: &str = "api_key";
const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PIKA Memory",
        description = "Long-term memory for the PIKA assistant: submit conversations, read and \
            edit the facts extracted from them, and search them. Errors are RFC 7807 \
            `application/problem+json` documents."
    ),
    components(schemas(Problem)),
    tags(
        (name = "extraction", description = "Conversations in, facts out, through jobs"),
        (name = "facts", description = "Reading and changing a user's facts"),
        (name = "episodes", description = "What was actually said: a user's conversation turns"),
        (name = "search", description = "The facts that matter for a message"),
        (name = "operations", description = "Probes and metrics (no API key), and where each \
            projection stands"),
        (name = "mem0", description = "Mem0's platform API (the `mem0ai` client works with only \
            its host changed): a memory is a live fact, scoped by `user_id`"),
    )
)]
struct ApiDoc;

/// The document's frame; the routers add the paths.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The tag of Mem0's routes.
const MEM0_TAG: &str = "mem0";

/// The errors every Mem0 route can answer, whatever else it documents: they share one body
/// extractor, one scope check and one store.
const MEM0_ERRORS: [(&str, &str); 5] = [
    (
        "400",
        "Malformed JSON, a bad id or query parameter, or a scope other than user_id",
    ),
    ("413", "Over 1 MiB"),
    ("415", "The body is not JSON"),
    ("422", "A body that parses but is invalid"),
    (
        "503",
        "A store is unavailable, or the read models are far behind; retry",
    ),
];

/// Adds what every keyed operation shares: the bearer scheme, and the 401 and 500 answers that
/// the `Tenant` extractor and `ApiError::Internal` give on every such route, so no annotation
/// can forget them.
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SECURITY_SCHEME,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    let key_required = SecurityRequirement::new(SECURITY_SCHEME, Vec::<String>::new());
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let keyed = operation
                .security
                .iter()
                .flatten()
                .any(|requirement| *requirement == key_required);
            if !keyed {
                continue;
            }
            let responses = &mut operation.responses.responses;
            responses.insert(
                "401".into(),
                problem_response("No valid API key: `Authorization: Bearer <secret>`"),
            );
            responses.insert(
                "429".into(),
                problem_response(
                    "The tenant is over its request rate or requests in flight (limits an \
                     operator configured); `Retry-After` says in how many seconds to retry",
                ),
            );
            responses.insert(
                "500".into(),
                problem_response("A bug; logged with its cause, answered without internals"),
            );
            let mem0 = operation.tags.iter().flatten().any(|tag| tag == MEM0_TAG);
            if mem0 {
                for (status, description) in MEM0_ERRORS {
                    responses
                        .entry(status.into())
                        .or_insert_with(|| problem_response(description));
                }
            }
        }
    }
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "Problem",
        ))))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content)
        .build()
        .into()
}

/// `/openapi.json` and the docs page, neither of which needs a key.
pub fn router<S: Clone + Send + Sync + 'static>(doc: &utoipa::openapi::OpenApi) -> Router<S> {
    let json = Bytes::from(doc.to_json().unwrap_or_else(|error| {
        tracing::error!(%error, "the OpenAPI document does not serialise");
        String::new()
    }));
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json) }),
        )
        .route("/docs", get(docs_page))
        .route("/docs/{file}", get(docs_asset))
}

/// Our own page rather than Swagger UI's `index.html`, whose `./` asset paths only resolve
/// under `/docs/`; this one loads its assets from `docs/…`, so `/docs` itself answers.
async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

/// The Swagger UI configuration only matters for its initializer script, which our page does
/// not load; `serve` wants one all the same.
static SWAGGER_CONFIG: LazyLock<Arc<Config<'static>>> =
    LazyLock::new(|| Arc::new(Config::new(["/openapi.json"])));

async fn docs_asset(Path(file): Path<String>) -> Response {
    match utoipa_swagger_ui::serve(&file, SWAGGER_CONFIG.clone()) {
        Ok(Some(asset)) => {
            let bytes = match asset.bytes {
                Cow::Borrowed(bytes) => Bytes::from_static(bytes),
                Cow::Owned(bytes) => Bytes::from(bytes),
            };
            let headers = [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=3600".to_owned()),
            ];
            (StatusCode::OK, headers, bytes).into_response()
        }
        Ok(None) => ApiError::NotFound(format!("no docs asset {file}")).into_response(),
        Err(error) => {
            ApiError::Internal(anyhow::anyhow!("docs asset {file}: {error}")).into_response()
        }
    }
}
