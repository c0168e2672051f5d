use std::time::Duration;

use rand::Rng;

/// How a command is retried when another writer committed to the same aggregate first.
///
/// Full jitter spreads competing writers apart so they do not collide again in lock step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 16,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    /// A random delay in `[0, min(max_delay, base_delay * 2^attempt)]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
        let cap = exponential.min(self.max_delay);
        let micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_cap() {
        let policy = RetryPolicy::default();
        for attempt in 0..40 {
            assert!(policy.backoff(attempt) <= policy.max_delay);
        }
        let first = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(1),
        };
        assert!(first.backoff(0) <= Duration::from_millis(1));
    }
}
