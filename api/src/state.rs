//! What handlers share: the write model and the connections to the outside.

use std::sync::Arc;

use anyhow::Context;
use pika_projections::ReadStore;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::ApiKeys;
use crate::config::Config;
use pika_commands::WriteModel;
use pika_projections::query::service::SearchService;

/// The servers this process talks to, each present only when configured.
#[derive(Debug, Clone)]
pub struct Dependencies {
    /// The read store, which answers for the database (Postgres or the SQLite file).
    pub reads: Arc<dyn ReadStore>,
    pub redis: Option<redis::Client>,
    pub amqp_url: Option<SecretString>,
}

impl Dependencies {
    pub fn check_database(&self) -> impl Future<Output = anyhow::Result<()>> + use<> {
        let reads = self.reads.clone();
        async move {
            reads
                .ping()
                .await
                .with_context(|| format!("{} did not answer", reads.backend()))?;
            Ok(())
        }
    }

    pub fn check_redis(&self) -> Option<impl Future<Output = anyhow::Result<()>> + use<>> {
        let client = self.redis.clone()?;
        Some(async move {
            let mut connection = client
                .get_multiplexed_async_connection()
                .await
                .context("redis connection failed")?;
            let _: String = redis::cmd("PING")
                .query_async(&mut connection)
                .await
                .context("redis PING failed")?;
            Ok(())
        })
    }

    pub fn check_amqp(&self) -> Option<impl Future<Output = anyhow::Result<()>> + use<>> {
        let url = self.amqp_url.clone()?;
        Some(async move {
            let connection = lapin::Connection::connect(
                url.expose_secret(),
                lapin::ConnectionProperties::default(),
            )
            .await
            .context("rabbitmq connection failed")?;
            connection.close(200, "readiness check".into()).await.ok();
            Ok(())
        })
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub search: Arc<SearchService>,
    pub embedder: Arc<dyn pika_domain::Embedder>,
    /// Projections a finished job must have passed before it is reported finished.
    pub job_gating: Arc<Vec<&'static str>>,
    pub write_model: Arc<WriteModel>,
    /// The read models and event store the queries read: Postgres, or the embedded file.
    pub reads: Arc<dyn ReadStore>,
    pub api_keys: Arc<ApiKeys>,
    /// Wakes long-polls and read-your-writes when a projection commits.
    pub progress: pika_projections::ProjectionProgress,
    /// Per-tenant request rate and in-flight limits (off unless configured).
    pub request_limiter: Arc<crate::rate_limit::RequestLimiter>,
    /// Embedded mode: held (read) while reporting a job finished, so the report never comes
    /// between the projector's commit and its invalidation of the caches.
    pub visibility_gate: Option<Arc<tokio::sync::RwLock<()>>>,
    pub dependencies: Dependencies,
    /// The storage backend chosen at start: hands out the ports and runs the background work.
    pub backend: Arc<dyn crate::backend::Backend>,
}
