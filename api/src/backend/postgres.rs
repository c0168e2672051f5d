//! The scaled-out backend: Postgres holds the event log, the read models, the keys and the
//! embedding cache; Redis (optional) the shared caches; RabbitMQ carries the jobs.

use crate::job_redispatch::JobRedispatch;
use pika_projections::postgres::listen_for_progress;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use pika_commands::{RetryPolicy, WriteModel, postgres as store};
use pika_domain::{DataKeyStore, EmbeddingCache};
use pika_projections::data_keys::PostgresDataKeys;
use pika_projections::jobs::JobDispatcher;
use pika_projections::postgres::{PostgresReadStore, PostgresRebuilder};
use pika_projections::{
    DaemonSettings, PostgresEventLog, ProjectionDaemon, ProjectionRebuilder, ReadStore,
    all_projections,
};
use pika_worker::amqp::AmqpJobQueue;
use pika_worker::embedding::postgres_cache::PostgresEmbeddingCache;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tokio::sync::{RwLock, watch};
use tokio::task::JoinHandle;

use super::{Backend, OpenOptions};
use crate::app::{Roles, extraction_worker};
use crate::auth::KeyStore;
use crate::auth::PostgresKeyStore;
use crate::config::Config;
use crate::state::AppState;
use pika_projections::query::invalidation::{CacheInvalidation, evict_on_announcements};

#[derive(Debug, Clone)]
pub(super) struct PostgresBackend {
    pool: PgPool,
    keys: PostgresDataKeys,
}

pub(super) async fn open(
    config: &Config,
    url: &SecretString,
    options: OpenOptions,
) -> anyhow::Result<Arc<dyn Backend>> {
    let connections = options
        .max_connections
        .unwrap_or(config.database_max_connections);
    let pool = store::connect_postgres(url.expose_secret(), connections)
        .await
        .with_context(|| {
            format!(
                "cannot connect to PIKA_DATABASE_URL ({})",
                config.database_for_logs()
            )
        })?;
    let keys = PostgresDataKeys::new(pool.clone(), super::master_key(config, options)?);
    let backend = PostgresBackend { pool, keys };
    if options.migrate {
        backend.migrate().await?;
    }
    if options.personal_data {
        backend.keys.check_master_key().await.context(
        "PIKA_MASTER_KEY does not open the data keys stored in PIKA_DATABASE_URL: it is not the \
         key this database was sealed with",
        )?;
    }
    Ok(Arc::new(backend))
}

impl PostgresBackend {
    fn data_keys(&self) -> Arc<dyn DataKeyStore> {
        Arc::new(self.keys.clone())
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn reads(&self) -> Arc<dyn ReadStore> {
        Arc::new(PostgresReadStore::new(self.pool.clone(), self.data_keys()))
    }

    fn write_model(&self) -> WriteModel {
        WriteModel::postgres(self.pool.clone(), self.data_keys(), RetryPolicy::default())
    }

    fn key_store(&self) -> Arc<dyn KeyStore> {
        Arc::new(PostgresKeyStore::new(self.pool.clone()))
    }

    fn embedding_cache(&self) -> Arc<dyn EmbeddingCache> {
        Arc::new(PostgresEmbeddingCache::new(self.pool.clone()))
    }

    fn rebuilder(&self) -> Arc<dyn ProjectionRebuilder> {
        Arc::new(PostgresRebuilder::new(self.pool.clone(), self.data_keys()))
    }

    fn personal_data(&self) -> Arc<dyn pika_projections::data_keys::PersonalDataAdmin> {
        Arc::new(self.keys.clone())
    }

    async fn migrate(&self) -> anyhow::Result<i64> {
        store::migrate(&self.pool)
            .await
            .context("applying migrations failed")?;
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Scaled out, caches are shared through Redis and the daemon's cache-invalidation
    /// projection gates job status instead.
    fn visibility_gate(&self) -> Option<Arc<RwLock<()>>> {
        None
    }

    fn spawn_background(
        &self,
        state: &AppState,
        roles: Roles,
        stopped: &watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<JoinHandle<()>>> {
        let mut tasks = vec![tokio::spawn(listen_for_progress(
            self.pool.clone(),
            state.progress.clone(),
            stopped.clone(),
        ))];
        let queue = match &state.config.amqp_url {
            Some(url) => Some(Arc::new(AmqpJobQueue::new(
                url.expose_secret().to_owned(),
                &state.config.amqp_queue_prefix,
            ))),
            None if roles.worker || roles.projections => anyhow::bail!(
                "PIKA_AMQP_URL is not set: the scaled-out mode (PIKA_DATABASE_URL) carries jobs \
                 over RabbitMQ; set PIKA_AMQP_URL, or unset PIKA_DATABASE_URL for the embedded \
                 mode"
            ),
            None => None,
        };
        if let Some(redis) = state.search.redis() {
            tasks.push(tokio::spawn(evict_on_announcements(
                redis.clone(),
                state.search.clone(),
                stopped.clone(),
            )));
        }
        if roles.projections {
            let mut projections = all_projections();
            if let Some(redis) = state.search.redis() {
                projections.push(Arc::new(CacheInvalidation::new(redis.clone())));
            }
            if let Some(queue) = &queue {
                projections.push(Arc::new(JobDispatcher::new(queue.clone())));
            }
            let daemon = Arc::new(ProjectionDaemon::new(
                self.pool.clone(),
                Arc::new(PostgresEventLog::new(self.pool.clone(), self.data_keys())),
                projections,
                DaemonSettings::default(),
            ));
            tasks.push(tokio::spawn(daemon.run(stopped.clone())));
        }
        if roles.worker
            && let Some(queue) = queue
        {
            let redispatch = JobRedispatch::new(
                state.reads.clone(),
                queue.clone(),
                state.config.job_redispatch_after,
            );
            tasks.push(tokio::spawn(redispatch.run(stopped.clone())));
            tasks.push(tokio::spawn(
                extraction_worker(state)?.run(queue, stopped.clone()),
            ));
        }
        Ok(tasks)
    }
}
