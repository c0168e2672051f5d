//! The projection daemon: tails the event log and feeds each projection, exactly once.
//!
//! Each projection runs in its own task and is claimed with a Postgres advisory lock held on a
//! dedicated connection, so of several daemons only one feeds a projection at a time; when
//! that daemon dies its connection closes, the lock is released and another takes over. The
//! lock is an economy, not the guarantee: every batch locks the projection's checkpoint row,
//! skips events at or before it, and writes rows and checkpoint in one transaction, so a
//! redelivered or duplicated batch applies nothing twice.

use crate::progress::{PROJECTED_CHANNEL, ProjectionProgress};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pika_domain::Backoff;
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{Notify, broadcast, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::ProjectionError;
use crate::ProjectionStatus;
use crate::decode::{committed_at, decode};
use crate::event_log::{EventLog, LogPosition, RecordedEvent};
use crate::postgres::PostgresWrites;
use crate::projection::sees;
use crate::projection::{ChangedUser, Projection, TableSet};

/// How long a failing projection waits before trying again; at most long enough not to hammer
/// a database that is down, short enough that a recovered dependency is noticed quickly.
const FAILURE_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    max: Duration::from_secs(3),
};

/// The channel events' commits are announced on (see the `events_notify` trigger).
pub const EVENTS_CHANNEL: &str = "pika_events";

#[derive(Debug, Clone, Copy)]
pub struct DaemonSettings {
    /// Events read and applied per transaction.
    pub batch_size: u32,
    /// How often the log is read with no notification: the safety net for a missed NOTIFY
    /// and for events held back behind another open transaction.
    pub poll_interval: Duration,
    /// How often a daemon that does not hold a projection checks whether it can take it over.
    pub claim_interval: Duration,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(200),
            claim_interval: Duration::from_secs(1),
        }
    }
}

pub struct ProjectionDaemon {
    pool: PgPool,
    log: Arc<dyn EventLog>,
    projections: Vec<Arc<dyn Projection>>,
    settings: DaemonSettings,
    changes: broadcast::Sender<ChangedUser>,
}

impl std::fmt::Debug for ProjectionDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.projections.iter().map(|p| p.name()).collect();
        f.debug_struct("ProjectionDaemon")
            .field("projections", &names)
            .finish_non_exhaustive()
    }
}

impl ProjectionDaemon {
    pub fn new(
        pool: PgPool,
        log: Arc<dyn EventLog>,
        projections: Vec<Arc<dyn Projection>>,
        settings: DaemonSettings,
    ) -> Self {
        let (changes, _) = broadcast::channel(4096);
        Self {
            pool,
            log,
            projections,
            settings,
            changes,
        }
    }

    /// Users whose read-model rows changed, announced after each commit; the cache layers
    /// listen here to drop what they hold for them.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangedUser> {
        self.changes.subscribe()
    }

    /// Runs every projection until `shutdown` becomes true.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let wakers: Arc<Vec<Arc<Notify>>> = Arc::new(
            self.projections
                .iter()
                .map(|_| Arc::new(Notify::new()))
                .collect(),
        );
        let listener = {
            let wakers = wakers.clone();
            tokio::spawn(listen(
                self.pool.clone(),
                EVENTS_CHANNEL,
                move || wakers.iter().for_each(|w| w.notify_one()),
                shutdown.clone(),
            ))
        };
        let mut runners = Vec::new();
        for (index, projection) in self.projections.iter().cloned().enumerate() {
            let daemon = self.clone();
            let shutdown = shutdown.clone();
            let wakers = wakers.clone();
            let span = info_span!("projection", projection = projection.name());
            runners.push(tokio::spawn(
                async move {
                    daemon
                        .run_projection(projection, index, wakers, shutdown)
                        .await
                }
                .instrument(span),
            ));
        }
        for runner in runners {
            runner.await.ok();
        }
        listener.abort();
    }

    async fn run_projection(
        &self,
        projection: Arc<dyn Projection>,
        index: usize,
        wakers: Arc<Vec<Arc<Notify>>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let waker = wakers[index].clone();
        let mut claim: Option<PgConnection> = None;
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            // After a failure the backoff is slept out whatever happens meanwhile: new events
            // would otherwise wake the runner into the same failure at the rate they come.
            let mut wakeable = true;
            let wait = match self.step(projection.as_ref(), &mut claim).await {
                Ok(Step::Applied) => {
                    failures = 0;
                    // Projections that follow this one may now go further.
                    for (other, waker) in wakers.iter().enumerate() {
                        if other != index {
                            waker.notify_one();
                        }
                    }
                    continue;
                }
                Ok(Step::Idle) => {
                    failures = 0;
                    self.settings.poll_interval
                }
                Ok(Step::NotClaimed) => self.settings.claim_interval,
                Err(error) => {
                    failures += 1;
                    let backoff = FAILURE_BACKOFF.delay(failures);
                    warn!(%error, ?backoff, "projection step failed; retrying");
                    metrics::counter!("pika_projection_failures_total",
                        "projection" => projection.name())
                    .increment(1);
                    claim = None;
                    wakeable = false;
                    backoff
                }
            };
            tokio::select! {
                () = waker.notified(), if wakeable => {}
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        debug!("projection runner stopped");
    }

    async fn step(
        &self,
        projection: &dyn Projection,
        claim: &mut Option<PgConnection>,
    ) -> Result<Step, ProjectionError> {
        if !self.hold_claim(projection, claim).await? {
            return Ok(Step::NotClaimed);
        }
        let events = self.readable(projection).await?;
        if events.is_empty() {
            return Ok(Step::Idle);
        }
        self.apply_batch(projection, &events).await?;
        Ok(Step::Applied)
    }

    /// The next batch for a projection, cut where the projections it follows have stopped.
    async fn readable(
        &self,
        projection: &dyn Projection,
    ) -> Result<Vec<RecordedEvent>, ProjectionError> {
        let checkpoint = read_checkpoint(&self.pool, projection.name()).await?;
        let mut events = self
            .log
            .read_after(checkpoint, self.settings.batch_size)
            .await?;
        for leader in projection.after() {
            let limit = read_checkpoint(&self.pool, leader).await?;
            events.retain(|e| e.position <= limit);
        }
        Ok(events)
    }

    /// Keeps (or takes) this projection's advisory lock; false when another daemon holds it.
    async fn hold_claim(
        &self,
        projection: &dyn Projection,
        claim: &mut Option<PgConnection>,
    ) -> Result<bool, ProjectionError> {
        if let Some(connection) = claim.as_mut() {
            if connection.ping().await.is_ok() {
                return Ok(true);
            }
            *claim = None;
        }
        let options = self.pool.connect_options();
        let mut connection = PgConnection::connect_with(&options).await?;
        let claimed: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(format!("pika-projection:{}", projection.name()))
            .fetch_one(&mut connection)
            .await?;
        if claimed {
            info!("claimed projection");
            *claim = Some(connection);
        }
        Ok(claimed)
    }

    /// Applies events past the checkpoint and moves the checkpoint, in one transaction.
    /// Returns how many events were new.
    pub async fn apply_batch(
        &self,
        projection: &dyn Projection,
        events: &[RecordedEvent],
    ) -> Result<usize, ProjectionError> {
        let mut tx = self.pool.begin().await?;
        let checkpoint = lock_checkpoint(&mut tx, projection.name()).await?;
        let fresh: Vec<&RecordedEvent> =
            events.iter().filter(|e| e.position > checkpoint).collect();
        let Some(last) = fresh.last().map(|e| e.position) else {
            return Ok(0);
        };
        let mut changed = BTreeSet::new();
        for event in &fresh {
            if sees(projection, event)
                && let Some(decoded) = decode(event)?
                && let Some(user) = projection
                    .apply(
                        &mut PostgresWrites::new(&mut tx),
                        TableSet::Live,
                        event,
                        &decoded,
                    )
                    .await?
            {
                changed.insert(user);
            }
        }
        sqlx::query(
            "UPDATE projection_checkpoints
                SET transaction_id = $2, global_position = $3,
                    events_applied = events_applied + $4, updated_at = now()
              WHERE projection = $1",
        )
        .bind(projection.name())
        .bind(last.transaction_id)
        .bind(last.global_position)
        .bind(i64::try_from(fresh.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        // Delivered at commit, to every process waiting for the read models to move on.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(PROJECTED_CHANNEL)
            .bind(projection.name())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        debug!(
            events = fresh.len(),
            position = last.global_position,
            "applied batch"
        );
        for user in changed {
            self.changes.send(user).ok();
        }
        Ok(fresh.len())
    }

    /// Applies everything currently readable, for every projection, then returns. Used by
    /// tools and tests that need the read models current without running the daemon.
    pub async fn catch_up(&self) -> Result<usize, ProjectionError> {
        let mut total = 0;
        for projection in &self.projections {
            loop {
                let events = self.readable(projection.as_ref()).await?;
                if events.is_empty() {
                    break;
                }
                total += self.apply_batch(projection.as_ref(), &events).await?;
            }
        }
        Ok(total)
    }
}

enum Step {
    Applied,
    Idle,
    NotClaimed,
}

/// Tells `progress` whenever a projection commits, in any process of the deployment, until
/// `shutdown`. Runs in every process that answers queries.
pub async fn listen_for_progress(
    pool: PgPool,
    progress: ProjectionProgress,
    shutdown: watch::Receiver<bool>,
) {
    listen(
        pool,
        PROJECTED_CHANNEL,
        move || progress.advanced(),
        shutdown,
    )
    .await;
}

/// Calls `on_notification` for every notification on `channel`, reconnecting when the
/// connection drops; meanwhile whoever relies on it falls back to polling.
async fn listen(
    pool: PgPool,
    channel: &'static str,
    on_notification: impl Fn(),
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                warn!(%error, channel, "cannot LISTEN; polling only until it can");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        if let Err(error) = listener.listen(channel).await {
            warn!(%error, channel, "LISTEN failed");
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => continue,
                _ = shutdown.changed() => return,
            }
        }
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(_) => on_notification(),
                    Err(error) => {
                        warn!(%error, channel, "notifications interrupted");
                        break;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

async fn lock_checkpoint(
    tx: &mut PgConnection,
    projection: &str,
) -> Result<LogPosition, ProjectionError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(projection)
    .execute(&mut *tx)
    .await?;
    let (transaction_id, global_position): (i64, i64) = sqlx::query_as(
        "SELECT transaction_id, global_position FROM projection_checkpoints
          WHERE projection = $1 FOR UPDATE",
    )
    .bind(projection)
    .fetch_one(&mut *tx)
    .await?;
    Ok(LogPosition {
        transaction_id,
        global_position,
    })
}

pub async fn read_checkpoint(
    pool: &PgPool,
    projection: &str,
) -> Result<LogPosition, ProjectionError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id, global_position FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(projection)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map_or_else(LogPosition::default, |(transaction_id, global_position)| {
            LogPosition {
                transaction_id,
                global_position,
            }
        }),
    )
}

/// Where one projection stands, from its checkpoint row and the log past it.
pub(crate) async fn status_of(
    pool: &PgPool,
    log: &dyn EventLog,
    name: &str,
) -> Result<ProjectionStatus, ProjectionError> {
    let row: Option<(i64, i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT transaction_id, global_position, events_applied, updated_at
           FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    let (position, events_applied, updated_at) = match row {
        Some((transaction_id, global_position, applied, at)) => (
            LogPosition {
                transaction_id,
                global_position,
            },
            applied,
            Some(at),
        ),
        None => (LogPosition::default(), 0, None),
    };
    let lag_events = log.count_after(position).await?;
    let oldest_pending = log.read_after(position, 1).await?;
    let lag_seconds = oldest_pending.first().map_or(0.0, |event| {
        (Utc::now() - committed_at(event)).num_milliseconds().max(0) as f64 / 1000.0
    });
    Ok(ProjectionStatus {
        projection: name.to_owned(),
        position,
        events_applied,
        lag_events,
        lag_seconds,
        updated_at,
    })
}
