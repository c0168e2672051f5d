//! The storage backend, chosen once: [`open`] looks at the configuration and returns the
//! Postgres backend (scaled out) or the SQLite one (embedded). Everything else in the service
//! sees only the ports it hands out — the read store, the write model, the key store, the
//! embedding cache, the rebuilder — and the background work it starts; nothing outside
//! `backend/postgres.rs` and `backend/sqlite.rs` knows which backend runs.

mod postgres;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use pika_commands::WriteModel;
use pika_domain::EmbeddingCache;
use pika_projections::{ProjectionRebuilder, ReadStore};
use tokio::sync::{RwLock, watch};
use tokio::task::JoinHandle;

use crate::app::Roles;
use crate::auth::KeyStore;
use crate::config::Config;
use crate::state::AppState;

/// How a process opens its backend: `serve` applies migrations at start, the CLI's tools use
/// a couple of connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    pub migrate: bool,
    pub max_connections: Option<u32>,
}

/// What the application asks of storage, answered by one backend.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    fn reads(&self) -> Arc<dyn ReadStore>;
    fn write_model(&self) -> WriteModel;
    fn key_store(&self) -> Arc<dyn KeyStore>;
    fn embedding_cache(&self) -> Arc<dyn EmbeddingCache>;
    fn rebuilder(&self) -> Arc<dyn ProjectionRebuilder>;
    /// Applies every pending migration; returns how many the database holds.
    async fn migrate(&self) -> anyhow::Result<i64>;
    /// Whether the caches live in this process only (the embedded mode): then the search
    /// keeps per-user generations locally, and a job is reported finished only behind the
    /// visibility gate, between the projector's commit and its invalidation of the caches.
    fn visibility_gate(&self) -> Option<Arc<RwLock<()>>>;
    /// Starts the projections and the job consumers the roles ask for.
    fn spawn_background(
        &self,
        state: &AppState,
        roles: Roles,
        stopped: &watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<JoinHandle<()>>>;
}

/// Opens the backend the configuration names: Postgres when `PIKA_DATABASE_URL` is set, else
/// the embedded SQLite file in `PIKA_DATA_DIR` (which must then be used without Redis or
/// RabbitMQ: half a scaled-out deployment is a mistake to report, not to guess around).
pub async fn open(config: &Config, options: OpenOptions) -> anyhow::Result<Arc<dyn Backend>> {
    match &config.database_url {
        Some(url) => postgres::open(config, url, options).await,
        None => sqlite::open(config, options).await,
    }
}
