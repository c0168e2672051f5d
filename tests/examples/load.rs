//! The load tool: drives a running server with a realistic mix (jobs for many users, searches
//! and favourites reads in between), prints throughput and p50/p95/p99 per operation, then
//! checks every accepted job completed and every user's facts are exactly what the jobs imply.
//! Exits 1 on any loss, so scripts and CI can rely on it.
//!
//! Arguments: --url URL --key SECRET [--users 50] [--jobs 500] [--concurrency 16]
//! [--searches-per-job 3] [--rate JOBS_PER_S] [--duration SECONDS] [--facts-per-user 0]
//! Soak: [--sample-every SECONDS --server-pid PID --timeline FILE.csv] adds a timeline of
//! latency per window, the server's RSS and open files, and the jobs completed per second and
//! the backlog per window from the server's own times (scripts/soak.sh plots it). With
//! `--rate`, a backlog above `--max-backlog-seconds` (default 2) of offered work fails the run
//! (exit 2), whatever the final check finds.

use std::time::Duration;

use pika_tests::load::{LoadSettings, run_load};

fn arg(name: &str) -> Option<String> {
    pika_tests::command_line_option(name)
}

fn number(name: &str, default: usize) -> usize {
    arg(name).map_or(default, |v| v.parse().expect("a whole number"))
}

#[tokio::main]
async fn main() {
    let url = arg("url").unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let key = arg("key").unwrap_or_default();
    let settings = LoadSettings {
        users: number("users", 50),
        jobs: number("jobs", 500),
        concurrency: number("concurrency", 16),
        searches_per_job: number("searches-per-job", 3),
        rate: arg("rate").map(|v| v.parse().expect("jobs per second")),
        duration: arg("duration").map(|v| Duration::from_secs(v.parse().expect("seconds"))),
        sample_every: arg("sample-every").map(|v| Duration::from_secs(v.parse().expect("seconds"))),
        server_pid: arg("server-pid").map(|v| v.parse().expect("a process id")),
        facts_per_user: number("facts-per-user", 0),
        max_backlog: Some(Duration::from_secs_f64(
            arg("max-backlog-seconds").map_or(2.0, |v| v.parse().expect("seconds")),
        )),
    };
    let report = run_load(&url, &key, &settings).await;
    println!("{}", report.render());
    if let Some(path) = arg("timeline") {
        std::fs::write(&path, report.timeline_csv()).expect("the timeline file");
        println!("timeline written to {path}");
    }
    if !report.nothing_lost() {
        eprintln!(
            "LOSS: unfinished {:?}; lost {:?}; duplicated {:?}; unexpected {:?}",
            report.unfinished_jobs,
            report.lost_facts,
            report.duplicated_facts,
            report.unexpected_facts,
        );
        eprintln!("seeded facts wrong: {:?}", report.seeded_facts_wrong);
        std::process::exit(1);
    }
    if let Some(reason) = &report.fell_behind {
        eprintln!("the service did not keep up: {reason}");
        std::process::exit(2);
    }
}
