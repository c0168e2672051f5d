//! A soak's timeline: what the clients saw per window, what the server process held, and the
//! CSV that `scripts/plot_timeline.py` draws.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{LoadReport, Samples};

/// One window of a soak: what the clients saw and what the server process held.
#[derive(Debug, Clone, Default)]
pub struct TimelineRow {
    pub at_seconds: f64,
    /// Per operation: (requests, errors, p50 ms, p95 ms, p99 ms).
    pub operations: BTreeMap<&'static str, (usize, usize, f64, f64, f64)>,
    pub usage: ProcessUsage,
}

/// What the server process held at one moment, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
    pub rss_kib: Option<u64>,
    /// Every open descriptor: files, sockets, pipes, epoll.
    pub open_files: Option<usize>,
    /// The sockets among them: HTTP clients, database, Redis and broker connections.
    pub open_sockets: Option<usize>,
}

/// A span of a fault run shaded on its plot: a dependency cut, a process down, the time to
/// recover.
#[derive(Debug, Clone)]
pub struct FaultWindow {
    pub from: Instant,
    pub to: Instant,
    pub label: &'static str,
}

/// Where fault runs leave their timelines, when `scripts/fault-plots.sh` asks for them.
pub const TIMELINE_DIR_VARIABLE: &str = "PIKA_TIMELINE_DIR";

/// How finely a fault run's timeline is cut: a 1.5 s outage spans six windows.
pub const FAULT_SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// Writes the run's timeline (`NAME.csv`) and its fault windows (`NAME.csv.faults`, seconds
/// since the load began) into `$PIKA_TIMELINE_DIR` when it is set; does nothing otherwise.
pub fn save_fault_timeline(name: &str, report: &LoadReport, windows: &[FaultWindow]) {
    let Some(dir) = std::env::var_os(TIMELINE_DIR_VARIABLE) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("the timeline directory");
    let zero = report.started.expect("the load ran");
    let since = |at: Instant| at.saturating_duration_since(zero).as_secs_f64();
    let faults: String = windows
        .iter()
        .map(|w| format!("{:.3},{:.3},{}\n", since(w.from), since(w.to), w.label))
        .collect();
    let csv = dir.join(format!("{name}.csv"));
    std::fs::write(&csv, report.timeline_csv()).expect("the timeline");
    std::fs::write(dir.join(format!("{name}.csv.faults")), faults).expect("the fault windows");
}

/// The server's resident memory, open descriptors and open sockets, from /proc.
pub(super) fn process_usage(pid: u32) -> ProcessUsage {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        });
    let descriptors: Option<Vec<std::path::PathBuf>> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|entries| {
            entries
                .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .collect()
        });
    ProcessUsage {
        rss_kib: rss,
        open_files: descriptors.as_ref().map(Vec::len),
        open_sockets: descriptors.as_ref().map(|targets| {
            targets
                .iter()
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        }),
    }
}

pub(super) fn percentiles(latencies: &mut [Duration]) -> (f64, f64, f64) {
    latencies.sort();
    let at = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index].as_secs_f64() * 1e3
    };
    (at(0.50), at(0.95), at(0.99))
}

pub(super) type Usage = Vec<(Duration, ProcessUsage)>;

/// Buckets the samples into windows of `every`, beside the process usage sampled meanwhile.
pub(super) fn timeline(samples: &Samples, every: Duration, usage: &Usage) -> Vec<TimelineRow> {
    let end = samples
        .iter()
        .map(|(_, at, _)| *at)
        .max()
        .unwrap_or_default();
    crate::backlog::windows(end, every)
        .map(|(from, to)| {
            let mut row = TimelineRow {
                at_seconds: to.as_secs_f64(),
                ..TimelineRow::default()
            };
            let mut by_operation: BTreeMap<&'static str, (Vec<Duration>, usize)> = BTreeMap::new();
            for (name, _, outcome) in samples.iter().filter(|(_, at, _)| *at >= from && *at < to) {
                let entry = by_operation.entry(name).or_default();
                match outcome {
                    Ok(latency) => entry.0.push(*latency),
                    Err(_) => entry.1 += 1,
                }
            }
            for (name, (mut latencies, errors)) in by_operation {
                let (p50, p95, p99) = percentiles(&mut latencies);
                row.operations
                    .insert(name, (latencies.len() + errors, errors, p50, p95, p99));
            }
            if let Some((_, sampled)) = usage.iter().rev().find(|(at, _)| *at < to) {
                row.usage = *sampled;
            }
            row
        })
        .collect()
}

impl LoadReport {
    /// The timeline as CSV, one row per window and operation, for plotting.
    pub fn timeline_csv(&self) -> String {
        let mut out = String::from(
            "seconds,operation,requests,errors,p50_ms,p95_ms,p99_ms,rss_kib,open_files,open_sockets,backlog\n",
        );
        let or_blank = |value: Option<usize>| value.map_or(String::new(), |v| v.to_string());
        for row in &self.timeline {
            for (name, (requests, errors, p50, p95, p99)) in &row.operations {
                out.push_str(&format!(
                    "{:.1},{name},{requests},{errors},{p50:.3},{p95:.3},{p99:.3},{},{},{},\n",
                    row.at_seconds,
                    row.usage.rss_kib.map_or(String::new(), |v| v.to_string()),
                    or_blank(row.usage.open_files),
                    or_blank(row.usage.open_sockets),
                ));
            }
        }
        // Submit→completed per window, with completions as requests and the backlog.
        for window in &self.job_timeline {
            let (p50, p95, p99) = percentiles(&mut window.latencies.clone());
            out.push_str(&format!(
                "{:.1},job,{},0,{p50:.3},{p95:.3},{p99:.3},,,,{}\n",
                window.at_seconds, window.completed, window.backlog
            ));
        }
        out
    }
}
