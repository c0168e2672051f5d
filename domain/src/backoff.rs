//! The one schedule for every wait between tries in the service.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff: `base` doubled for each attempt, never more than `max`.
///
/// The one schedule for every wait between tries in the service (command conflicts, job
/// retries, reconnecting to the broker, a failing projection), so they cannot drift apart in how they grow or cap.
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
}
