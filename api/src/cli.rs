//! The `pika-memory` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pika_domain::TenantId;
use pika_projections::all_projections;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::app::{Application, Roles};
use crate::auth::{self, KeyRecord, Revocation};
use crate::backend::{self, Backend, OpenOptions};
use crate::config::Config;
use crate::telemetry;
use pika_projections::query::cache::RedisCache;

/// PIKA Memory: long-term memory for a conversational assistant.
///
/// Settings come from PIKA_* environment variables and an optional TOML file; see the README.
#[derive(Debug, Parser)]
#[command(name = "pika-memory", version)]
pub struct Cli {
    /// A TOML file with settings (same names as the PIKA_* variables, lower case, no prefix).
    #[arg(long, global = true, env = "PIKA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process: HTTP API, extraction worker and projection daemon.
    /// Applies pending migrations first.
    Serve,
    /// Run only the HTTP API (migrations must already be applied).
    Api,
    /// Run the background work: the extraction worker and the projection daemon (probes and
    /// /metrics still answer on PIKA_HTTP_ADDR).
    Worker,
    /// Apply pending database migrations and exit; safe to run again.
    Migrate,
    /// Inspect or rebuild the read models.
    Projections {
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// Create, list and revoke API keys (in the database at PIKA_DATABASE_URL).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage the vectors search compares by meaning.
    Embeddings {
        #[command(subcommand)]
        action: EmbeddingsAction,
    },
    /// Seal an old log, rotate the master key, apply conversation retention.
    PersonalData {
        #[command(subcommand)]
        action: PersonalDataAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersonalDataAction {
    /// Seal every event and snapshot written before personal data was sealed: the one rewrite
    /// of the log, recorded in `log_rewrites`. Stopped, it resumes where it was; run again, it
    /// seals nothing. What belonged to users forgotten before becomes unreadable.
    SealLog,
    /// Wrap every data key with a new master key, in one transaction; then restart every
    /// process with the new key (the old one no longer opens anything).
    RotateMasterKey {
        /// A file holding the new key (32 bytes as base64 or hex).
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Shred conversations older than PIKA_CONVERSATION_RETENTION now (the worker also does it
    /// every hour).
    ApplyRetention,
}

#[derive(Debug, Subcommand)]
pub enum EmbeddingsAction {
    /// Give every fact and turn a vector of the configured model (after PIKA_EMBEDDING_MODEL
    /// changed). Search keeps answering meanwhile; stopped, it resumes where it was (texts that
    /// already have a vector of the model are skipped); safe to run again.
    Reembed,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print its secret. The secret is shown this once: only its SHA-256
    /// digest is stored.
    Create {
        /// The tenant the key acts for.
        #[arg(long, value_parser = parse_tenant)]
        tenant: TenantId,
        /// A note to recognise the key by in `keys list` (who or what uses it).
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys, revoked ones included; secrets are never shown (they are not stored).
    List {
        /// Only this tenant's keys.
        #[arg(long, value_parser = parse_tenant)]
        tenant: Option<TenantId>,
    },
    /// Revoke a key: running servers refuse it within seconds.
    Revoke {
        /// The key's id, as `keys list` shows it.
        id: Uuid,
    },
}

fn parse_tenant(value: &str) -> Result<TenantId, String> {
    TenantId::parse(value).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsAction {
    /// Position and lag of each projection.
    Status,
    /// Replay the event store into fresh tables and swap them in.
    Rebuild {
        /// Rebuild only this projection.
        #[arg(long)]
        projection: Option<String>,
    },
}

/// Parses the command line, loads the configuration and runs the chosen command.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref()).context("invalid configuration")?;
    telemetry::init(config.log_format);
    match cli.command {
        Command::Serve => serve(config, Roles::SERVE).await,
        Command::Api => serve(config, Roles::API).await,
        Command::Migrate => migrate(&config).await,
        Command::Projections {
            action: ProjectionsAction::Status,
        } => projections_status(&config).await,
        Command::Projections {
            action: ProjectionsAction::Rebuild { projection },
        } => projections_rebuild(&config, projection.as_deref()).await,
        Command::Keys { action } => keys(&config, action).await,
        Command::Embeddings {
            action: EmbeddingsAction::Reembed,
        } => embeddings_reembed(&config, true).await.map(|report| {
            println!(
                "{}: {} texts, {} embedded now, {} had a vector of it already",
                report.model,
                report.texts,
                report.embedded,
                report.texts - report.embedded
            );
        }),
        Command::Worker => serve(config, Roles::WORKER).await,
        Command::PersonalData { action } => personal_data(&config, action).await,
    }
}

async fn personal_data(config: &Config, action: PersonalDataAction) -> anyhow::Result<()> {
    let admin = open_backend(config).await?.personal_data();
    match action {
        PersonalDataAction::SealLog => {
            let bar = indicatif::ProgressBar::new(admin.count_clear_events().await?);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "sealing [{bar:30}] {pos}/{len} events {per_sec} eta {eta}",
                )?
                .progress_chars("=> "),
            );
            let report = pika_projections::data_keys::seal_clear_log(admin.as_ref(), &mut |n| {
                bar.inc(n);
            })
            .await
            .context("sealing stopped; run it again to resume")?;
            bar.finish();
            println!(
                "sealed {} events ({} of users forgotten before, now unreadable) and {} snapshots",
                report.events, report.shredded, report.snapshots
            );
        }
        PersonalDataAction::RotateMasterKey { new_key_file } => {
            let text = std::fs::read_to_string(&new_key_file)
                .with_context(|| format!("cannot read {}", new_key_file.display()))?;
            let new = pika_domain::MasterKey::parse(&text).with_context(|| {
                format!(
                    "{} does not hold 32 bytes as base64 or hex",
                    new_key_file.display()
                )
            })?;
            let moved = admin.rotate_master_key(&new).await?;
            println!(
                "{moved} data keys now wrapped by the new master key: restart every process with it"
            );
        }
        PersonalDataAction::ApplyRetention => {
            let destroyed = pika_projections::data_keys::apply_retention(
                admin.as_ref(),
                &config.conversation_retention,
                chrono::Utc::now(),
            )
            .await?;
            println!("{destroyed} conversation keys destroyed");
        }
    }
    Ok(())
}

async fn serve(config: Config, roles: Roles) -> anyhow::Result<()> {
    let app = Application::build_with_roles(config, roles).await?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

/// The backend the configuration names, as `serve` opens it (without migrating Postgres, which
/// is `migrate`'s job), with the couple of connections a tool needs.
async fn open_backend(config: &Config) -> anyhow::Result<std::sync::Arc<dyn Backend>> {
    open_backend_with(config, true).await
}

/// The backend for a command that never reads or writes personal data (`migrate`, API keys):
/// it runs without the master key.
async fn open_backend_with(
    config: &Config,
    personal_data: bool,
) -> anyhow::Result<std::sync::Arc<dyn Backend>> {
    backend::open(
        config,
        OpenOptions {
            migrate: false,
            max_connections: Some(2),
            personal_data,
        },
    )
    .await
}

async fn projections_status(config: &Config) -> anyhow::Result<()> {
    let names: Vec<&str> = all_projections().iter().map(|p| p.name()).collect();
    let statuses = open_backend(config)
        .await?
        .reads()
        .projection_status(&names)
        .await?;
    println!(
        "{:<24} {:>12} {:>14} {:>10} {:>10}",
        "projection", "position", "events applied", "lag", "lag (s)"
    );
    for status in statuses {
        println!(
            "{:<24} {:>12} {:>14} {:>10} {:>10.1}",
            status.projection,
            status.position.global_position,
            status.events_applied,
            status.lag_events,
            status.lag_seconds
        );
    }
    Ok(())
}

/// What `embeddings reembed` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReembedReport {
    pub model: String,
    /// Distinct texts search compares by meaning.
    pub texts: usize,
    /// Those that had no vector of the model and got one now.
    pub embedded: usize,
}

/// Texts embedded and stored per step: one step's work is kept even if the run stops after it.
const REEMBED_BATCH: usize = 64;

/// Moves every memory to the configured model's vectors. The embedding cache holds one vector
/// per text (of the model that wrote it last) and each step stores its vectors before the
/// next, so a run stopped halfway resumes by skipping texts already of the model. Turns read
/// their vectors from the cache; facts keep a copy in their rows, so the `facts` projection
/// is rebuilt from the log once every vector is in place (search keeps answering from the
/// old rows until the swap), and cached answers are dropped.
pub async fn embeddings_reembed(
    config: &Config,
    show_progress: bool,
) -> anyhow::Result<ReembedReport> {
    let backend = open_backend(config).await?;
    let embedder = pika_worker::embedder_for(&config.embedder_settings())
        .map_err(anyhow::Error::msg)
        .context("cannot build the embedder")?;
    let model = embedder.model().to_owned();
    let cache = backend.embedding_cache();
    let texts = backend.reads().memory_texts().await?;
    let bar = if show_progress {
        indicatif::ProgressBar::new(texts.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:24} [{bar:30}] {pos}/{len} texts {per_sec} eta {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(model.clone());
    let mut embedded = 0;
    for batch in texts.chunks(REEMBED_BATCH) {
        let missing = cache.missing(batch, &model).await?;
        if !missing.is_empty() {
            let vectors = embedder.embed(&missing).await?;
            let pairs: Vec<(String, Vec<f32>)> = missing.into_iter().zip(vectors).collect();
            cache.store(&model, &pairs).await?;
            embedded += pairs.len();
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish();
    let facts: Vec<_> = all_projections()
        .into_iter()
        .filter(|p| p.name() == "facts")
        .collect();
    for projection in facts {
        backend
            .rebuilder()
            .rebuild(projection, &mut |_| {})
            .await
            .context(
                "rebuilding the facts with their new vectors failed; the live tables are unchanged",
            )?;
    }
    forget_cached_answers(config).await;
    Ok(ReembedReport {
        model,
        texts: texts.len(),
        embedded,
    })
}

async fn projections_rebuild(config: &Config, only: Option<&str>) -> anyhow::Result<()> {
    let backend = open_backend(config).await?;
    let rebuilder = backend.rebuilder();
    let projections: Vec<_> = all_projections()
        .into_iter()
        .filter(|p| only.is_none_or(|name| p.name() == name))
        .collect();
    if projections.is_empty() {
        let names: Vec<&str> = all_projections().iter().map(|p| p.name()).collect();
        anyhow::bail!(
            "no projection {:?}; known: {}",
            only.unwrap_or_default(),
            names.join(", ")
        );
    }
    let total = u64::try_from(backend.reads().last_position_issued().await?).unwrap_or(0);
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    let label = if names.len() == 1 {
        names[0]
    } else {
        "read models"
    };
    let bar = indicatif::ProgressBar::new(total).with_message(label);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:24} [{bar:30}] {pos}/{len} events {per_sec} eta {eta}",
        )?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    // One pass over the log for all of them where the backend can: reading and opening the
    // log is most of a rebuild's time.
    let reports = rebuilder
        .rebuild_all(projections, &mut |n| bar.inc(n))
        .await
        .with_context(|| {
            format!(
                "rebuilding {} failed; the live tables of what was not swapped in are unchanged",
                names.join(", ")
            )
        })?;
    bar.finish();
    let seconds = started.elapsed().as_secs_f64();
    for (name, report) in names.iter().zip(&reports) {
        println!(
            "{name}: {} events; the store holds {} up to position {}: match",
            report.events_applied, report.events_in_store, report.position.global_position
        );
    }
    let read = reports.iter().map(|r| r.events_applied).max().unwrap_or(0);
    println!(
        "rebuilt {} in {seconds:.2} s ({:.0} events/s)",
        names.join(", "),
        read as f64 / seconds.max(1e-9)
    );
    forget_cached_answers(config).await;
    Ok(())
}

/// Rebuilt rows can differ from the old ones at the same positions (a vector found this time,
/// a fixed fold), which running servers' caches cannot see: bumping the Redis epoch makes every
/// process read again. Without Redis reachable the caches age out within their TTL.
async fn forget_cached_answers(config: &Config) {
    let Some(url) = &config.redis_url else {
        return;
    };
    let bumped = match redis::Client::open(url.expose_secret()) {
        Ok(client) => RedisCache::new(client, &config.redis_prefix)
            .bump_epoch()
            .await
            .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match bumped {
        Ok(_) => println!("running servers' search caches dropped (Redis epoch bumped)"),
        Err(error) => eprintln!(
            "warning: Redis not reachable ({error}): servers may answer searches from the \
             old read models for up to 10 minutes, or restart them"
        ),
    }
}

async fn keys(config: &Config, action: KeysAction) -> anyhow::Result<()> {
    let store = open_backend_with(config, false).await?.key_store();
    match action {
        KeysAction::Create { tenant, label } => {
            let key = auth::create_key(store.as_ref(), &tenant, label.as_deref()).await?;
            println!("id:      {}", key.record.id);
            println!("tenant:  {}", key.record.tenant);
            println!("label:   {}", key.record.label.as_deref().unwrap_or("-"));
            println!("secret:  {}", key.secret.expose_secret());
            eprintln!(
                "Store the secret now: it is shown only this once and cannot be recovered. Send \
                 it as `Authorization: Bearer <secret>`; running servers accept it within {} s.",
                auth::REFRESH_EVERY.as_secs()
            );
        }
        KeysAction::List { tenant } => {
            let keys = store.list(tenant.as_ref()).await?;
            if keys.is_empty() {
                eprintln!("no API keys");
            } else {
                print!("{}", key_table(&keys));
            }
        }
        KeysAction::Revoke { id } => match auth::revoke_key(store.as_ref(), id).await? {
            Revocation::Revoked(key) => println!(
                "revoked key {} of tenant {}; running servers refuse it within {} s",
                key.id,
                key.tenant,
                auth::REFRESH_EVERY.as_secs()
            ),
            Revocation::AlreadyRevoked(key) => println!(
                "key {} of tenant {} was already revoked at {}",
                key.id,
                key.tenant,
                key.revoked_at.map_or_else(|| "-".to_owned(), timestamp)
            ),
        },
    }
    Ok(())
}

fn timestamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One line per key, columns padded to the widest value so the table reads in a terminal and
/// splits on whitespace in scripts: a missing value is `-`, and the label, the one free text
/// that may hold spaces, comes last.
fn key_table(keys: &[KeyRecord]) -> String {
    const HEADER: [&str; 6] = ["id", "tenant", "prefix", "created", "revoked", "label"];
    let rows: Vec<[String; 6]> = keys
        .iter()
        .map(|key| {
            [
                key.id.to_string(),
                key.tenant.clone(),
                key.prefix.clone().unwrap_or_else(|| "-".to_owned()),
                timestamp(key.created_at),
                key.revoked_at.map_or_else(|| "-".to_owned(), timestamp),
                key.label.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = HEADER.map(str::to_owned);
    let mut table = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str(cells.join("  ").trim_end());
        table.push('\n');
    }
    table
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let applied = open_backend_with(config, false).await?.migrate().await?;
    println!("database is up to date ({applied} migrations applied)");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM, so `docker stop` and Ctrl-C both shut down gracefully.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_key_table_aligns_columns_and_puts_the_free_text_last() {
        let created = chrono::Utc
            .with_ymd_and_hms(2026, 11, 24, 9, 30, 0)
            .single()
            .expect("a valid time");
        let keys = [
            KeyRecord {
                id: Uuid::nil(),
                tenant: "acme".into(),
                label: Some("ci runner".into()),
                prefix: Some("pika_0123abcd".into()),
                created_at: created,
                revoked_at: None,
            },
            KeyRecord {
                id: Uuid::max(),
                tenant: "b".into(),
                label: None,
                prefix: None,
                created_at: created,
                revoked_at: Some(created),
            },
        ];
        let table = key_table(&keys);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        let words: Vec<Vec<&str>> = lines
            .iter()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            words[0],
            ["id", "tenant", "prefix", "created", "revoked", "label"]
        );
        assert_eq!(
            words[1],
            [
                "00000000-0000-0000-0000-000000000000",
                "acme",
                "pika_0123abcd",
                "2026-11-24T09:30:00Z",
                "-",
                "ci",
                "runner"
            ]
        );
        assert_eq!(words[2][4], "2026-11-24T09:30:00Z");
        assert_eq!(words[2][5], "-");
        let column = |line: &str, word: &str| line.find(word).expect("the word is in the line");
        assert_eq!(column(lines[0], "tenant"), column(lines[1], "acme"));
        assert_eq!(column(lines[0], "label"), column(lines[1], "ci runner"));
    }
}
