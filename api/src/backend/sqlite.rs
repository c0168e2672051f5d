//! The embedded backend: one SQLite file holds the event log, read models, keys, embedding
//! cache and job queue; caches live in process. One `serve` process runs every part.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use pika_commands::sqlite::{connect_sqlite, migrate_sqlite};
use pika_commands::{RetryPolicy, WriteModel};
use pika_domain::EmbeddingCache;
use pika_projections::data_keys::SqliteDataKeys;
use pika_projections::sqlite::{EmbeddedProjector, SqliteReadStore, SqliteRebuilder};
use pika_projections::{ProjectionRebuilder, ReadStore, all_projections};
use pika_worker::embedding::sqlite_cache::SqliteEmbeddingCache;
use pika_worker::local_queue::LocalJobQueue;
use sqlx::SqlitePool;
use tokio::sync::{RwLock, watch};
use tokio::task::JoinHandle;

use super::{Backend, OpenOptions};
use crate::app::{Roles, extraction_worker};
use crate::auth::KeyStore;
use crate::auth::SqliteKeyStore;
use crate::config::Config;
use crate::state::AppState;

/// Connections to the embedded file: SQLite writes one at a time, so a few readers beside the
/// writer are all that helps.
const EMBEDDED_CONNECTIONS: u32 = 8;

#[derive(Debug, Clone)]
pub(super) struct SqliteBackend {
    pool: SqlitePool,
    keys: SqliteDataKeys,
    visibility_gate: Arc<RwLock<()>>,
}

pub(super) async fn open(
    config: &Config,
    options: OpenOptions,
) -> anyhow::Result<Arc<dyn Backend>> {
    for (name, set) in [
        ("PIKA_REDIS_URL", config.redis_url.is_some()),
        ("PIKA_AMQP_URL", config.amqp_url.is_some()),
    ] {
        if set {
            anyhow::bail!(
                "{name} is set but PIKA_DATABASE_URL is not: set PIKA_DATABASE_URL for the \
                 scaled-out mode, or unset {name} for the embedded mode"
            );
        }
    }
    let connections = options.max_connections.unwrap_or(EMBEDDED_CONNECTIONS);
    let pool = connect_sqlite(&config.data_dir, connections)
        .await
        .with_context(|| {
            format!(
                "cannot open the embedded database in PIKA_DATA_DIR={}",
                config.data_dir.display()
            )
        })?;
    let keys = SqliteDataKeys::new(pool.clone(), super::master_key(config, options)?);
    let backend = SqliteBackend {
        pool,
        keys,
        visibility_gate: Arc::default(),
    };
    // The embedded file is always brought up to date: there is no separate deployment step
    // that could do it, and a tool reading an older file would misread it.
    backend.migrate().await?;
    if options.personal_data {
        backend.keys.check_master_key().await.with_context(|| {
            format!(
                "the master key (PIKA_MASTER_KEY, PIKA_MASTER_KEY_FILE or {}/master.key) does not \
             open the data keys in PIKA_DATA_DIR: it is not the key this data was sealed with",
                config.data_dir.display()
            )
        })?;
    }
    tracing::info!(data_dir = %config.data_dir.display(), "embedded mode: one SQLite file, caches and job queue in process");
    Ok(Arc::new(backend))
}

#[async_trait]
impl Backend for SqliteBackend {
    fn reads(&self) -> Arc<dyn ReadStore> {
        Arc::new(SqliteReadStore::new(
            self.pool.clone(),
            Arc::new(self.keys.clone()),
        ))
    }

    fn write_model(&self) -> WriteModel {
        WriteModel::sqlite(
            self.pool.clone(),
            Arc::new(self.keys.clone()),
            RetryPolicy::default(),
        )
    }

    fn key_store(&self) -> Arc<dyn KeyStore> {
        Arc::new(SqliteKeyStore::new(self.pool.clone()))
    }

    fn embedding_cache(&self) -> Arc<dyn EmbeddingCache> {
        Arc::new(SqliteEmbeddingCache::new(self.pool.clone()))
    }

    fn rebuilder(&self) -> Arc<dyn ProjectionRebuilder> {
        Arc::new(SqliteRebuilder::new(self.pool.clone(), self.keys.clone()))
    }

    fn personal_data(&self) -> Arc<dyn pika_projections::data_keys::PersonalDataAdmin> {
        Arc::new(self.keys.clone())
    }

    async fn migrate(&self) -> anyhow::Result<i64> {
        migrate_sqlite(&self.pool)
            .await
            .context("applying the embedded migrations failed")?;
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    fn visibility_gate(&self) -> Option<Arc<RwLock<()>>> {
        Some(self.visibility_gate.clone())
    }

    /// The projector (which also queues submitted jobs) and the job queue's consumers, woken
    /// by the projector when it queued jobs.
    fn spawn_background(
        &self,
        state: &AppState,
        roles: Roles,
        stopped: &watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<JoinHandle<()>>> {
        if roles != Roles::SERVE {
            anyhow::bail!(
                "the embedded mode (no PIKA_DATABASE_URL) runs as one process: use `serve`; \
                 `api` and `worker` processes need the scaled-out mode"
            );
        }
        let search = state.search.clone();
        let projector = Arc::new(
            EmbeddedProjector::new(self.pool.clone(), self.keys.clone(), all_projections())
                .with_visibility_gate(self.visibility_gate.clone())
                .with_progress(state.progress.clone())
                .with_on_changed(Arc::new(move |user| {
                    search.user_changed(&user.tenant, &user.user_id);
                })),
        );
        let queue = Arc::new(LocalJobQueue::with_wake(
            self.pool.clone(),
            projector.jobs_queued(),
        ));
        let worker = extraction_worker(state)?;
        let concurrency = usize::from(worker.policy().concurrency);
        Ok(vec![
            tokio::spawn(projector.run(stopped.clone())),
            tokio::spawn(queue.run(worker, concurrency, stopped.clone())),
        ])
    }
}
