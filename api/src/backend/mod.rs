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
use pika_domain::{EmbeddingCache, MasterKey};
use pika_projections::data_keys::PersonalDataAdmin;
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
    /// Whether the process reads or writes personal data: then the master key must be set
    /// and must open the stored data keys. `migrate` and the API-key commands touch none, so
    /// they run without it (with a throwaway key that can open nothing).
    pub personal_data: bool,
}

/// What the application asks of storage, answered by one backend.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    fn reads(&self) -> Arc<dyn ReadStore>;
    fn write_model(&self) -> WriteModel;
    fn key_store(&self) -> Arc<dyn KeyStore>;
    fn embedding_cache(&self) -> Arc<dyn EmbeddingCache>;
    fn rebuilder(&self) -> Arc<dyn ProjectionRebuilder>;
    /// Sealing an old log, rotating the master key, retention.
    fn personal_data(&self) -> Arc<dyn PersonalDataAdmin>;
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

/// The file the embedded mode keeps its master key in when none is configured.
pub const MASTER_KEY_FILE_NAME: &str = "master.key";

/// The master key the configuration names: `PIKA_MASTER_KEY`, else `PIKA_MASTER_KEY_FILE`,
/// else (embedded only) `PIKA_DATA_DIR/master.key`, created with mode 0600 on first start. The
/// scaled-out mode never invents one: several processes must share it, and a key made up by
/// one of them would seal data the others cannot read.
pub(crate) fn master_key(
    config: &Config,
    options: OpenOptions,
) -> anyhow::Result<std::sync::Arc<MasterKey>> {
    use anyhow::Context;
    use secrecy::ExposeSecret;
    if let Some(text) = &config.master_key {
        return Ok(Arc::new(
            MasterKey::parse(text.expose_secret())
                .context("PIKA_MASTER_KEY is not 32 bytes as base64 or hex")?,
        ));
    }
    let (path, may_create) = match &config.master_key_file {
        Some(path) => (path.clone(), false),
        None if config.database_url.is_none() => (config.data_dir.join(MASTER_KEY_FILE_NAME), true),
        None if !options.personal_data => return Ok(Arc::new(MasterKey::generate())),
        None => anyhow::bail!(
            "PIKA_MASTER_KEY (or PIKA_MASTER_KEY_FILE) is not set: the scaled-out mode seals \
             personal data with per-user keys wrapped by it, and every process must use the \
             same one (make one with `openssl rand -base64 32`)"
        ),
    };
    if may_create && !path.exists() {
        if !options.personal_data {
            return Ok(Arc::new(MasterKey::generate()));
        }
        create_master_key_file(&path)?;
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the master key file {}", path.display()))?;
    Ok(Arc::new(MasterKey::parse(&text).with_context(|| {
        format!(
            "the master key file {} does not hold 32 bytes as base64 or hex",
            path.display()
        )
    })?))
}

fn create_master_key_file(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the master key file {}", path.display()))?;
    writeln!(file, "{}", MasterKey::generate().to_text())?;
    file.sync_all()?;
    tracing::warn!(path = %path.display(), "created a new master key: back it up apart from the data; without it nothing personal in the data can be read");
    Ok(())
}
