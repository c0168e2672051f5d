//! Liveness and readiness, for orchestrators and load balancers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// How long readiness waits for one dependency before calling it down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: the process answers. No key, so orchestrators can probe it.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Up", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
struct DependencyCheck {
    name: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    ready: bool,
    checks: Vec<DependencyCheck>,
}

/// Readiness: Postgres (or the embedded SQLite file), Redis and RabbitMQ (as configured) answer
/// within 2 s.
///
/// A load balancer takes the instance out while one is down; the body names which.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers", body = Readiness),
        (status = 503, description = "A dependency does not answer", body = Readiness),
    )
)]
#[tracing::instrument(skip_all)]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database = state.reads.backend();
    let (postgres, redis, amqp) = tokio::join!(
        check(database, Some(state.dependencies.check_database())),
        check("redis", state.dependencies.check_redis()),
        check("rabbitmq", state.dependencies.check_amqp()),
    );
    let checks: Vec<DependencyCheck> = [postgres, redis, amqp].into_iter().flatten().collect();
    let ready = checks.iter().all(|c| c.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { ready, checks }))
}

async fn check(
    name: &'static str,
    probe: Option<impl Future<Output = anyhow::Result<()>>>,
) -> Option<DependencyCheck> {
    let probe = probe?;
    let error = match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(format!("{error:#}")),
        Err(_) => Some(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    Some(DependencyCheck {
        name,
        ok: error.is_none(),
        error,
    })
}
