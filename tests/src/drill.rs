//! What the outage drills share (`pika-tests`' in-process ones and `pika-api`'s, which kill a
//! worker process): a backlog, job statuses read straight from Postgres past any proxy, and
//! the wait for every job to complete after the restore.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::PgPool;

/// Jobs submitted before the cut: 600 of 100 users.
pub const DRILL_JOBS: usize = 600;
pub const OUTAGE: Duration = Duration::from_secs(60);
/// The goal: every job completed within this time of the restore.
pub const RECOVERY_GOAL: Duration = Duration::from_secs(120);

/// Job statuses as the read side reports them, counted.
pub async fn job_statuses(pool: &PgPool) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT status, count(*) FROM extraction_jobs GROUP BY status",
    )
    .fetch_all(pool)
    .await
    .map(|rows| rows.into_iter().collect())
    .unwrap_or_default()
}

/// Watches the jobs from `restored` until all [`DRILL_JOBS`] are completed (or a minute past
/// the goal), calling `tick` every half second; the last statuses and the time it took.
pub async fn until_all_completed(
    pool: &PgPool,
    restored: Instant,
    mut tick: impl FnMut(),
) -> (HashMap<String, i64>, Duration) {
    let mut last = HashMap::new();
    while restored.elapsed() < RECOVERY_GOAL + Duration::from_secs(60) {
        tick();
        last = job_statuses(pool).await;
        if completed(&last) == DRILL_JOBS as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (last, restored.elapsed())
}

/// The drill's verdict: every job completed, within the goal.
pub fn assert_recovered(last: &HashMap<String, i64>, recovery: Duration) {
    assert_eq!(completed(last), DRILL_JOBS as i64, "{last:?}");
    assert!(recovery <= RECOVERY_GOAL, "took {recovery:?}");
}

fn completed(statuses: &HashMap<String, i64>) -> i64 {
    statuses.get("completed").copied().unwrap_or(0)
}
