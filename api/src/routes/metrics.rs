//! Prometheus metrics at `/metrics`.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// Projection positions and lag, read at scrape time: the daemon may run in another process,
/// and the store is the one place that knows both the checkpoints and the log's end.
async fn record_projection_lag(state: &AppState) {
    let statuses = state.reads.projection_status(&[]).await;
    match statuses {
        Ok(statuses) => {
            for status in statuses {
                let labels = [("projection", status.projection)];
                metrics::gauge!("pika_projection_lag_events", &labels)
                    .set(status.lag_events as f64);
                metrics::gauge!("pika_projection_lag_seconds", &labels).set(status.lag_seconds);
                metrics::gauge!("pika_projection_position", &labels)
                    .set(status.position.global_position as f64);
            }
        }
        Err(error) => {
            tracing::warn!(%error, "projection lag not read for /metrics");
            metrics::counter!("pika_metrics_read_errors_total").increment(1);
        }
    }
}

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (a second app in one test process)
/// share it. `None` when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(render))
}

/// Prometheus metrics in the text exposition format. No key, so a scraper needs no secret.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "The metrics", body = String,
        content_type = "text/plain"))
)]
async fn render(State(state): State<AppState>) -> impl IntoResponse {
    record_projection_lag(&state).await;
    let body = install().map(|handle| handle.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
