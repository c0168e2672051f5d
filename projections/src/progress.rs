//! Wakes whoever waits for the read models to move on (a job long-poll, a read-your-writes
//! query) when a projection commits, so they need not ask the database every few
//! milliseconds. The projector in the same process says so directly (embedded); scaled out,
//! the daemon's commit carries a `NOTIFY` that every process `LISTEN`s for. Waiters still
//! look again after a fallback interval, so a missed or late notification only costs time.

use std::time::Duration;

use tokio::sync::watch;

/// The Postgres channel a projection's commit notifies.
pub const PROJECTED_CHANNEL: &str = "pika_projected";

/// How long a waiter sleeps without a notification before looking again.
pub const FALLBACK_POLL: Duration = Duration::from_millis(250);

/// A counter of projection commits seen by this process.
#[derive(Debug, Clone)]
pub struct ProjectionProgress {
    advances: watch::Sender<u64>,
}

impl Default for ProjectionProgress {
    fn default() -> Self {
        Self {
            advances: watch::channel(0).0,
        }
    }
}

impl ProjectionProgress {
    /// A projection committed: wake every waiter.
    pub fn advanced(&self) {
        self.advances.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A waiter's view, taken before its first look so no advance between the look and the
    /// wait is missed.
    pub fn waiter(&self) -> ProgressWaiter {
        let mut advances = self.advances.subscribe();
        advances.mark_unchanged();
        ProgressWaiter { advances }
    }
}

/// One waiter on [`ProjectionProgress`].
#[derive(Debug)]
pub struct ProgressWaiter {
    advances: watch::Receiver<u64>,
}

impl ProgressWaiter {
    /// Returns at the next advance since the last call, or after `FALLBACK_POLL`, or at
    /// `deadline` if that comes first.
    pub async fn next(&mut self, deadline: tokio::time::Instant) {
        let fallback = tokio::time::Instant::now() + FALLBACK_POLL;
        let woken_by = tokio::select! {
            changed = self.advances.changed() => if changed.is_ok() { "notification" } else { "timer" },
            () = tokio::time::sleep_until(fallback.min(deadline)) => "timer",
        };
        self.advances.mark_unchanged();
        metrics::counter!("pika_read_model_waits_total", "woken_by" => woken_by).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_advance_between_the_look_and_the_wait_is_not_missed() {
        let progress = ProjectionProgress::default();
        let mut waiter = progress.waiter();
        progress.advanced();
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        tokio::time::timeout(Duration::from_millis(100), waiter.next(far))
            .await
            .expect("woken at once by the advance");
    }
}
