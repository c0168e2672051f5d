//! Prometheus metrics at `/metrics`.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (a second app in one test process)
/// share it. `None` when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .clone()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render() -> impl IntoResponse {
    let body = install().map(|handle| handle.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
