//! The read side's storage port: every question the API and the search asks of the read
//! models and the event store. Postgres (`crate::postgres::PostgresReadStore`) answers it
//! scaled out, the SQLite file (`crate::sqlite::SqliteReadStore`) embedded; the backend is
//! chosen once at start-up and nothing above this trait knows which one answers.
//!
//! Answers computed from events share one pure step (`history_from_events`,
//! `facts_as_of_events`), so the two adapters differ only in how they fetch.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::{TenantId, UserId};
use uuid::Uuid;

use crate::ProjectionError;
use crate::episodes::{EpisodeQuery, EpisodeRecord};
use crate::event_log::LogPosition;
use crate::fact_record::FactRecord;
use crate::history::{FactHistory, FavoriteSummaryView};
use crate::jobs::JobView;
use crate::search::{EpisodeRefresh, IndexChanges, IndexedEpisode, IndexedFact, UserIndex};

/// Which of a user's live facts [`ReadStore::indexed_facts`] reads.
#[derive(Debug, Clone, Copy)]
pub enum FactSelection<'a> {
    All,
    /// These facts (those a refresh found moved).
    Only(&'a [Uuid]),
    /// Those whose last change is past this log position.
    ChangedAfter(i64),
}

/// Where one projection stands, for `pika-memory projections status` and `/metrics`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProjectionStatus {
    pub projection: String,
    pub position: LogPosition,
    pub events_applied: i64,
    pub lag_events: i64,
    pub lag_seconds: f64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One event of a user's log, as the API reads back a command's commit.
#[derive(Debug, Clone, PartialEq)]
pub struct UserLogEntry {
    pub sequence: i64,
    pub position: i64,
    pub payload: serde_json::Value,
    pub correlation_id: Option<String>,
}

/// A user of a tenant as a list of users shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserSummary {
    pub user_id: String,
    /// Live facts now; 0 for a user with only conversation turns.
    pub live_facts: i64,
    /// When a fact of the user last changed; `None` for a user with only conversation turns.
    pub last_changed_at: Option<DateTime<Utc>>,
}

impl From<(String, i64, Option<DateTime<Utc>>)> for UserSummary {
    fn from((user_id, live_facts, last_changed_at): (String, i64, Option<DateTime<Utc>>)) -> Self {
        Self {
            user_id,
            live_facts,
            last_changed_at,
        }
    }
}

/// One page of a tenant's users: after a cursor (a user id), optionally only ids starting with
/// `prefix` — how an operator finds one user among thousands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPage<'a> {
    pub after: Option<&'a str>,
    pub prefix: Option<&'a str>,
    pub limit: u32,
}

/// Users with live facts or turns, one page after a cursor. `{order}` is the dialect's byte
/// order for text (`COLLATE "C"` in Postgres, SQLite's default), so both backends list users
/// alike and the cursor means the same in both. The prefix is compared as a leading substring,
/// not with `LIKE`, so `_` and `%` in ids mean themselves.
pub(crate) fn users_sql(order: &str) -> String {
    format!(
        "SELECT r.user_id, CAST(SUM(r.n) AS BIGINT) AS live_facts,
                MAX(s.last_changed_at) AS last_changed_at
           FROM (
            SELECT user_id, COUNT(*) AS n FROM facts WHERE tenant = $1 GROUP BY user_id
            UNION ALL SELECT DISTINCT user_id, 0 FROM episodes WHERE tenant = $1
        ) AS r
        LEFT JOIN user_favorite_summary s ON s.tenant = $1 AND s.user_id = r.user_id
        WHERE r.user_id {order} > $2 {order}
          AND substr(r.user_id, 1, length($4)) = $4
        GROUP BY r.user_id ORDER BY r.user_id {order} LIMIT $3"
    )
}

/// A user's jobs, newest first, for an operator looking at what happened to their
/// conversations.
pub(crate) const USER_JOBS_SQL: &str = "SELECT *, TRUE AS visible
   FROM extraction_jobs WHERE tenant = $1 AND user_id = $2
  ORDER BY submitted_at DESC, job_id DESC LIMIT $3";

#[async_trait]
pub trait ReadStore: Send + Sync + std::fmt::Debug {
    /// The name readiness and logs report the backend under.
    fn backend(&self) -> &'static str;

    /// One trivial statement: proves the store answers (readiness).
    async fn ping(&self) -> Result<(), ProjectionError>;

    /// A user's live facts, by key, age and id: one job adds several facts at one commit time,
    /// and the id makes the list the same on every read.
    async fn live_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<FactRecord>, ProjectionError>;

    /// The tenant's users with anything remembered (live facts or conversation turns), by id,
    /// with how many live facts each has and when they last changed.
    async fn users(
        &self,
        tenant: &TenantId,
        page: UserPage<'_>,
    ) -> Result<Vec<UserSummary>, ProjectionError>;

    /// The user's most recent jobs, newest first, as recorded (not held back for projections:
    /// a list is for looking at, not for read-your-writes).
    async fn user_jobs(
        &self,
        tenant: &TenantId,
        user: &UserId,
        limit: u32,
    ) -> Result<Vec<JobView>, ProjectionError>;

    /// One live fact of this tenant.
    async fn fact(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<FactRecord>, ProjectionError>;

    /// The audit trail of a fact of this tenant; `None` when the tenant has no such fact.
    async fn fact_history(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<FactHistory>, ProjectionError>;

    /// A user's live facts as they stood at `as_of`, replayed from the event store.
    async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<FactRecord>, ProjectionError>;

    /// A user's favourites, likes and dislikes by topic (the L2 read model); empty for a user
    /// with no facts yet.
    async fn favorite_summary(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<FavoriteSummaryView, ProjectionError>;

    /// The job's status, with a finished status held back as `running` until every
    /// projection in `gating` has applied the job's last event.
    async fn job_view(
        &self,
        tenant: &TenantId,
        job_id: Uuid,
        gating: &[&str],
    ) -> Result<Option<JobView>, ProjectionError>;

    /// Every live fact of the user with the log position of its last change.
    async fn fact_positions(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Vec<(Uuid, i64)>, ProjectionError>;

    /// How many live facts the user has.
    async fn fact_count(&self, tenant: &str, user_id: &str) -> Result<usize, ProjectionError>;

    /// A user's live facts with their vectors of `model`, ready to rank: all of them, or those
    /// a refresh needs. Vectors of another model are left out: the fact is still found by its
    /// words, and vectors of two models are never compared.
    async fn indexed_facts(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
        selection: FactSelection<'_>,
    ) -> Result<Vec<IndexedFact>, ProjectionError>;

    /// A user's turns in time order (then by job and message), within the query's window and
    /// after its cursor, at most `limit` of them.
    async fn episodes(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: &EpisodeQuery,
    ) -> Result<Vec<EpisodeRecord>, ProjectionError>;

    /// The user's last event as (sequence, global position).
    async fn user_head(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(i64, i64)>, ProjectionError>;

    /// The user's events past `sequence`, oldest first.
    async fn user_log_after(
        &self,
        tenant: &TenantId,
        user: &UserId,
        sequence: i64,
    ) -> Result<Vec<UserLogEntry>, ProjectionError>;

    /// Whose fact this is and its key: from the `facts` read model, else from the event store
    /// (a fact not projected yet, or retracted), both scoped to the tenant.
    async fn fact_owner(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<(String, String)>, ProjectionError>;

    /// The largest global position ever handed out, committed or not.
    async fn last_position_issued(&self) -> Result<i64, ProjectionError>;

    /// Jobs still `queued` or `running` whose last sign of life (their latest start, else
    /// their submission) is older than `before`, oldest first, at most `limit`: those whose
    /// message may have been lost, for dispatching again.
    async fn unfinished_jobs_before(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UnfinishedJob>, ProjectionError>;

    /// Every text search compares by meaning (live facts' passages, turns' contents), each
    /// once: what `embeddings reembed` must have a vector of when the model changes.
    async fn memory_texts(&self) -> Result<Vec<String>, ProjectionError>;

    /// Whether `projection` has applied the event at `position`, compared in log order.
    async fn has_applied(&self, projection: &str, position: i64) -> Result<bool, ProjectionError>;

    /// Each projection's checkpoint and lag behind the log (for `/metrics` and `projections
    /// status`): every projection that has a checkpoint, including those that hold no rows
    /// (the job relay, cache invalidation), and each of `expected` even before its first
    /// checkpoint, by name.
    async fn projection_status(
        &self,
        expected: &[&str],
    ) -> Result<Vec<ProjectionStatus>, ProjectionError>;

    /// A user's turns with the vectors of `model` (from the embedding cache), in log order;
    /// with `after`, only those past that log position (a refresh: turns are only added).
    async fn indexed_episodes(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
        after: Option<i64>,
    ) -> Result<Vec<IndexedEpisode>, ProjectionError>;

    /// How many turns the user has.
    async fn episode_count(&self, tenant: &str, user_id: &str) -> Result<usize, ProjectionError>;

    /// A user's live facts and turns with the vectors of `model`, ready to rank.
    async fn load_index(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
    ) -> Result<UserIndex, ProjectionError> {
        Ok(UserIndex::new(
            self.indexed_facts(tenant, user_id, model, FactSelection::All)
                .await?,
            self.indexed_episodes(tenant, user_id, model, None).await?,
        ))
    }

    /// `index` brought up to the user's facts now, reading only what changed: the facts
    /// changed past the newest position it holds, and a count. When the held facts and those
    /// add up to the count, none was removed (every live fact not held is past that position,
    /// projections applying the log in order), and the refresh costs what changed; otherwise
    /// (a retraction) it lists ids and positions and reads again those that moved.
    async fn refresh_index(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
        index: &UserIndex,
    ) -> Result<(UserIndex, IndexChanges), ProjectionError> {
        let count = self.fact_count(tenant, user_id).await?;
        let after = index.last_fact_position().unwrap_or(0);
        let changed = self
            .indexed_facts(tenant, user_id, model, FactSelection::ChangedAfter(after))
            .await?;
        let episodes = self.episodes_since(tenant, user_id, model, index).await?;
        if index.adds_up(&changed, count) {
            let changes = IndexChanges {
                to_read: changed.iter().map(|fact| fact.record.fact_id).collect(),
                kept: count.saturating_sub(changed.len()),
            };
            return Ok((index.merged(changed, episodes), changes));
        }
        let current = self.fact_positions(tenant, user_id).await?;
        let changes = index.changes(&current);
        let read = if changes.to_read.is_empty() {
            Vec::new()
        } else {
            let only = FactSelection::Only(&changes.to_read);
            self.indexed_facts(tenant, user_id, model, only).await?
        };
        Ok((index.refreshed(&current, read, episodes), changes))
    }

    /// The turns a refresh needs: those past the newest held, unless the user's turns are
    /// then not the held ones plus those (they were forgotten meanwhile): then all of them.
    async fn episodes_since(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
        index: &UserIndex,
    ) -> Result<EpisodeRefresh, ProjectionError> {
        let count = self.episode_count(tenant, user_id).await?;
        let added = match index.last_episode_position() {
            Some(last) => {
                self.indexed_episodes(tenant, user_id, model, Some(last))
                    .await?
            }
            None => self.indexed_episodes(tenant, user_id, model, None).await?,
        };
        if index.episodes().len() + added.len() == count {
            return Ok(EpisodeRefresh::Added(added));
        }
        Ok(EpisodeRefresh::Whole(
            self.indexed_episodes(tenant, user_id, model, None).await?,
        ))
    }
}

/// The projections to report: those recorded and those expected, once each, by name.
pub fn status_names(recorded: Vec<String>, expected: &[&str]) -> Vec<String> {
    let mut names: std::collections::BTreeSet<String> = recorded.into_iter().collect();
    names.extend(expected.iter().map(|name| (*name).to_owned()));
    names.into_iter().collect()
}

/// A job the read side still shows unfinished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedJob {
    pub tenant: String,
    pub job_id: Uuid,
    pub user_id: String,
}

/// The query behind `ReadStore::unfinished_jobs_before`; the same SQL in both dialects
/// (placeholders aside).
pub(crate) fn unfinished_jobs_sql(first: &str, second: &str) -> String {
    format!(
        "SELECT tenant, job_id, user_id FROM extraction_jobs
          WHERE status IN ('queued', 'running')
            AND coalesce(started_at, submitted_at) < {first}
          ORDER BY coalesce(started_at, submitted_at) LIMIT {second}"
    )
}

/// What `ReadStore::memory_texts` reads: each fact's key and text, each turn's content with
/// no key; the same SQL in both dialects.
pub(crate) const MEMORY_TEXTS: &str =
    "SELECT key, text FROM facts UNION SELECT NULL, content FROM episodes";

/// The texts embedded for [`MEMORY_TEXTS`]' rows (a fact as its passage), each once, sorted by
/// bytes: Postgres would order by the database's collation and SQLite by bytes, and the two
/// backends answer alike.
pub(crate) fn memory_texts_in_byte_order(rows: Vec<(Option<String>, String)>) -> Vec<String> {
    let mut texts: Vec<String> = rows
        .into_iter()
        .map(|(key, text)| match key {
            Some(key) => pika_domain::fact_passage(&key, &text),
            None => text,
        })
        .collect();
    texts.sort_unstable();
    texts.dedup();
    texts
}
