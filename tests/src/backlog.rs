//! What a soak's clients cannot see from their own requests: whether the service kept up.
//!
//! A submission answers `202` in milliseconds whatever the worker's backlog, and the final
//! check long-polls every job until it is done, so a run that fell minutes behind used to end
//! with "unfinished 0". Here every accepted job's server-side times (`submitted_at`,
//! `finished_at`) are cut into the timeline's windows: jobs completed per second, the backlog
//! (accepted but not completed) at each window's end, and submit→completed latency; and a run
//! whose backlog grew past what it may hold is reported as having fallen behind.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// One accepted job as the server recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTimes {
    pub submitted_at: DateTime<Utc>,
    /// `None` while (or if) it never finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobTimes {
    /// From a `GET /v1/jobs/{id}` answer.
    pub fn from_view(view: &serde_json::Value) -> Option<Self> {
        let time = |field: &str| {
            view[field]
                .as_str()
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                .map(|at| at.with_timezone(&Utc))
        };
        Some(Self {
            submitted_at: time("submitted_at")?,
            finished_at: time("finished_at"),
        })
    }

    fn latency(&self) -> Option<Duration> {
        (self.finished_at? - self.submitted_at).to_std().ok()
    }
}

/// One window of the jobs' timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct JobWindow {
    /// The window's end, in seconds since the clients started.
    pub at_seconds: f64,
    pub submitted: usize,
    pub completed: usize,
    /// Accepted but not completed at the window's end.
    pub backlog: usize,
    /// Submit→completed of the jobs completed in the window: every latency, for percentiles.
    pub latencies: Vec<Duration>,
}

/// The windows of `every` that cover `0..end` (at least one), as (from, to).
pub fn windows(end: Duration, every: Duration) -> impl Iterator<Item = (Duration, Duration)> {
    let count = (end.as_secs_f64() / every.as_secs_f64()).ceil().max(1.0) as u32;
    (0..count).map(move |window| (every * window, every * (window + 1)))
}

/// The jobs' timeline in windows of `every` from `zero` (when the clients started) until the
/// last job finished.
pub fn job_windows(jobs: &[JobTimes], zero: DateTime<Utc>, every: Duration) -> Vec<JobWindow> {
    let seconds = |at: DateTime<Utc>| (at - zero).to_std().unwrap_or_default();
    let end = jobs
        .iter()
        .map(|job| seconds(job.finished_at.unwrap_or(job.submitted_at)))
        .max()
        .unwrap_or_default();
    windows(end, every)
        .map(|(from, to)| {
            let within = |at: Duration| at >= from && at < to;
            let mut row = JobWindow {
                at_seconds: to.as_secs_f64(),
                submitted: 0,
                completed: 0,
                backlog: 0,
                latencies: Vec::new(),
            };
            for job in jobs {
                let submitted = seconds(job.submitted_at);
                let finished = job.finished_at.map(seconds);
                if within(submitted) {
                    row.submitted += 1;
                }
                if finished.is_some_and(within) {
                    row.completed += 1;
                    row.latencies.extend(job.latency());
                }
                if submitted < to && finished.is_none_or(|at| at >= to) {
                    row.backlog += 1;
                }
            }
            row
        })
        .collect()
}

/// The largest backlog of any window, with the window's end.
pub fn max_backlog(windows: &[JobWindow]) -> (usize, f64) {
    windows
        .iter()
        .map(|w| (w.backlog, w.at_seconds))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .unwrap_or((0, 0.0))
}

/// Whether the service kept up with `rate` jobs per second: its backlog never held more than
/// `allowed` of offered work. `Err` says when and by how much it fell behind.
pub fn kept_up(windows: &[JobWindow], rate: f64, allowed: Duration) -> Result<(), String> {
    let limit = rate * allowed.as_secs_f64();
    let (backlog, at) = max_backlog(windows);
    if (backlog as f64) <= limit.max(1.0) {
        return Ok(());
    }
    Err(format!(
        "{backlog} jobs accepted but not completed at {at:.0} s, {:.1} s of the \
         offered {rate} jobs/s (allowed {:.1} s)",
        backlog as f64 / rate,
        allowed.as_secs_f64()
    ))
}

/// Latencies by when they were measured (seconds since the start).
pub type Timed = Vec<(f64, Duration)>;

/// Each operation's p95 in the last `span` divided by its p95 in the first `span`: above 1, it
/// got slower as the run went on (memories grew, caches filled, something leaked).
pub fn p95_drift(
    by_operation: &BTreeMap<&'static str, Timed>,
    span: Duration,
) -> BTreeMap<&'static str, f64> {
    let mut drift = BTreeMap::new();
    for (name, samples) in by_operation {
        let end = samples.iter().map(|(at, _)| *at).fold(0.0, f64::max);
        let span = span.as_secs_f64();
        let first: Vec<Duration> = samples
            .iter()
            .filter(|(at, _)| *at < span)
            .map(|s| s.1)
            .collect();
        let last: Vec<Duration> = samples
            .iter()
            .filter(|(at, _)| *at >= end - span)
            .map(|s| s.1)
            .collect();
        if let (Some(first), Some(last)) = (p95(first), p95(last))
            && first > 0.0
        {
            drift.insert(*name, last / first);
        }
    }
    drift
}

/// The 95th percentile in milliseconds; `None` without samples.
pub fn p95(mut latencies: Vec<Duration>) -> Option<f64> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort();
    let index = ((latencies.len() as f64 - 1.0) * 0.95).round() as usize;
    Some(latencies[index].as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zero: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
        zero + chrono::Duration::milliseconds((seconds * 1000.0) as i64)
    }

    fn job(zero: DateTime<Utc>, submitted: f64, finished: Option<f64>) -> JobTimes {
        JobTimes {
            submitted_at: at(zero, submitted),
            finished_at: finished.map(|f| at(zero, f)),
        }
    }

    #[test]
    fn a_backlog_is_what_was_accepted_and_not_yet_completed_at_each_windows_end() {
        let zero = Utc::now();
        let jobs = [
            job(zero, 0.1, Some(0.2)),
            job(zero, 0.5, Some(2.5)),
            job(zero, 1.5, Some(2.9)),
            job(zero, 1.6, None),
        ];
        let windows = job_windows(&jobs, zero, Duration::from_secs(1));
        let shape: Vec<(usize, usize, usize)> = windows
            .iter()
            .map(|w| (w.submitted, w.completed, w.backlog))
            .collect();
        assert_eq!(shape, [(2, 1, 1), (2, 0, 3), (0, 2, 1)]);
        assert_eq!(windows[2].latencies.len(), 2);
        assert_eq!(max_backlog(&windows), (3, 2.0));
    }

    #[test]
    fn a_run_falls_behind_when_its_backlog_holds_more_than_the_allowed_work() {
        let zero = Utc::now();
        let steady: Vec<JobTimes> = (0..100)
            .map(|n| job(zero, n as f64 * 0.1, Some(n as f64 * 0.1 + 0.05)))
            .collect();
        let windows = job_windows(&steady, zero, Duration::from_secs(1));
        assert_eq!(kept_up(&windows, 10.0, Duration::from_secs(2)), Ok(()));
        let slow: Vec<JobTimes> = (0..100)
            .map(|n| job(zero, n as f64 * 0.1, Some(n as f64 * 0.3)))
            .collect();
        let windows = job_windows(&slow, zero, Duration::from_secs(1));
        let verdict = kept_up(&windows, 10.0, Duration::from_secs(2));
        assert!(
            verdict.as_ref().is_err_and(|e| e.contains("not completed")),
            "{verdict:?}"
        );
    }

    #[test]
    fn drift_compares_the_last_span_with_the_first() {
        let mut by_operation = BTreeMap::new();
        let samples: Timed = (0..600)
            .map(|n| {
                let at = n as f64;
                let ms = if at < 300.0 { 10 } else { 30 };
                (at, Duration::from_millis(ms))
            })
            .collect();
        by_operation.insert("search", samples);
        let drift = p95_drift(&by_operation, Duration::from_secs(60));
        assert!((drift["search"] - 3.0).abs() < 1e-9, "{drift:?}");
    }
}
