//! The `pika-memory` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pika_commands::storage;
use pika_projections::rebuild::rebuild;
use pika_projections::{EventLog, PostgresEventLog, all_projections, projection_status};
use secrecy::ExposeSecret;

use crate::app::{Application, Roles};
use crate::config::Config;
use crate::telemetry;

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
    /// Run only the extraction worker that consumes jobs from the queue.
    Worker,
    /// Apply pending database migrations and exit; safe to run again.
    Migrate,
    /// Inspect or rebuild the read models.
    Projections {
        #[command(subcommand)]
        action: ProjectionsAction,
    },
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
        Command::Worker => anyhow::bail!(
            "this command is not available in this build yet; `serve` runs the whole service"
        ),
    }
}

async fn serve(config: Config, roles: Roles) -> anyhow::Result<()> {
    let app = Application::build_with_roles(config, roles).await?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

async fn connect(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    let url = config
        .database_url
        .as_ref()
        .context("PIKA_DATABASE_URL is not set")?;
    storage::connect_postgres(url.expose_secret(), 2)
        .await
        .with_context(|| {
            format!(
                "cannot connect to PIKA_DATABASE_URL ({})",
                config.database_for_logs()
            )
        })
}

async fn projections_status(config: &Config) -> anyhow::Result<()> {
    let pool = connect(config).await?;
    let log = PostgresEventLog::new(pool.clone());
    let statuses = projection_status(&pool, &log, &all_projections()).await?;
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

async fn projections_rebuild(config: &Config, only: Option<&str>) -> anyhow::Result<()> {
    let pool = connect(config).await?;
    let log = PostgresEventLog::new(pool.clone());
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
    let total = u64::try_from(log.count_after(Default::default()).await?).unwrap_or(0);
    for projection in projections {
        let name = projection.name();
        let bar = indicatif::ProgressBar::new(total).with_message(name);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:24} [{bar:30}] {pos}/{len} events {per_sec} eta {eta}",
            )?
            .progress_chars("=> "),
        );
        let started = std::time::Instant::now();
        let report = rebuild(&pool, &log, projection, |n| bar.inc(n))
            .await
            .with_context(|| format!("rebuilding {name} failed; the live tables are unchanged"))?;
        bar.finish();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{name}: {} events in {seconds:.2} s ({:.0} events/s); the store holds {} up to position {}: match",
            report.events_applied,
            report.events_applied as f64 / seconds.max(1e-9),
            report.events_in_store,
            report.position.global_position
        );
    }
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let pool = connect(config).await?;
    storage::migrate(&pool)
        .await
        .context("applying migrations failed")?;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await?;
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
