use std::time::Duration;

use rand::Rng;

/// Exponential backoff: `base` doubled for each attempt, never more than `max`.
///
/// The one schedule for every wait between tries in the service (command conflicts, job
/// retries, reconnecting to the broker), so they cannot drift apart in how they grow or cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry `attempt`: `base * 2^attempt`, capped at `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doubling = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.base.saturating_mul(doubling).min(self.max)
    }

    /// A random wait in `[0, delay(attempt)]` ("full jitter"), for tries that collided with
    /// each other: spread apart, they do not collide again in lock step.
    pub fn jittered(&self, attempt: u32) -> Duration {
        let micros = u64::try_from(self.delay(attempt).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=micros))
    }
}

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
    fn delays_double_from_the_base_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(60),
        };
        let delays: Vec<Duration> = (0..9).map(|attempt| backoff.delay(attempt)).collect();
        let expected = [
            500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000,
        ];
        assert_eq!(delays, expected.map(Duration::from_millis));
        assert_eq!(backoff.delay(u32::MAX), backoff.max, "no overflow far out");
    }

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
