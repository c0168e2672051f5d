use std::time::Duration;

use pika_domain::Backoff;

/// How a command is retried when another writer committed to the same aggregate first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub delays: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 16,
            delays: Backoff {
                base: Duration::from_millis(2),
                max: Duration::from_millis(200),
            },
        }
    }
}

impl RetryPolicy {
    /// Jittered: the writers that conflicted are retrying the same aggregate at once.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.delays.jittered(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_cap() {
        let policy = RetryPolicy::default();
        for attempt in 0..40 {
            assert!(policy.backoff(attempt) <= policy.delays.max);
        }
        let first = Backoff {
            base: Duration::from_millis(1),
            max: Duration::from_secs(1),
        };
        assert!(first.jittered(0) <= Duration::from_millis(1));
    }
}
