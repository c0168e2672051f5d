//! The scaled-out `serve` (API, projection daemon and worker in one process) SIGKILLed in the
//! middle of a mixed load and started again on the same database and queues: clients see
//! errors while it is down, but no accepted job is lost, doubled or left unfinished.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use pika_tests::load::{
    FAULT_SAMPLE_EVERY, FaultWindow, LoadSettings, run_load, save_fault_timeline,
};
use pika_tests::process::{free_port, start_command, start_serve, wait_until_healthy};
use pika_tests::{TEST_API_SECRET, TestDatabase, test_settings, unique_prefix};

/// 150 jobs for 10 users at 30 jobs/s: five seconds, long enough to kill something mid-way.
fn mid_load() -> LoadSettings {
    LoadSettings {
        users: 10,
        jobs: 150,
        concurrency: 6,
        searches_per_job: 1,
        rate: Some(30.0),
        sample_every: Some(FAULT_SAMPLE_EVERY),
        ..LoadSettings::default()
    }
}

fn start(settings: &[(String, String)]) -> Child {
    start_serve(Path::new(env!("CARGO_BIN_EXE_pika-memory")), settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_under_load_loses_no_accepted_job() {
    let database = TestDatabase::empty().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut settings: Vec<(String, String)> = test_settings(&database, &unique_prefix())
        .into_iter()
        .collect();
    settings.push(("PIKA_HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")));
    let client = reqwest::Client::new();
    let mut server = start(&settings);
    wait_until_healthy(&client, &base).await;

    let load = mid_load();
    let target = base.clone();
    let running = tokio::spawn(async move { run_load(&target, TEST_API_SECRET, &load).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = Instant::now();
    server.kill().unwrap();
    server.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted_at = Instant::now();
    let mut restarted = start(&settings);
    wait_until_healthy(&client, &base).await;
    let recovery = restarted_at.elapsed();

    let report = running.await.unwrap();
    save_fault_timeline(
        "serve-sigkill",
        &report,
        &[
            FaultWindow {
                from: killed,
                to: restarted_at,
                label: "serve killed",
            },
            FaultWindow {
                from: restarted_at,
                to: restarted_at + recovery,
                label: "until healthy",
            },
        ],
    );
    let client_errors: usize = report.operations.values().map(|s| s.errors).sum();
    println!(
        "serve SIGKILLed under load: accepted {} jobs, client errors {client_errors}, healthy {:.2} s after the restart began\n{}",
        report.accepted_jobs,
        recovery.as_secs_f64(),
        report.render()
    );
    assert!(report.accepted_jobs > 0);
    assert!(
        client_errors > 0,
        "the kill came while clients were sending"
    );
    assert!(report.nothing_lost(), "{report:?}");
    restarted.kill().ok();
    restarted.wait().ok();
}

/// A scaled-out deployment of separate processes: an `api` keeps taking jobs while its only
/// `worker` is SIGKILLed mid-load and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_sigkilled_while_the_api_takes_jobs_loses_nothing() {
    let binary = Path::new(env!("CARGO_BIN_EXE_pika-memory"));
    let database = TestDatabase::empty().await;
    let (api_port, worker_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{api_port}");
    let shared: Vec<(String, String)> = test_settings(&database, &unique_prefix())
        .into_iter()
        .collect();
    let with_port = |port: u16| {
        let mut settings = shared.clone();
        settings.push(("PIKA_HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")));
        settings
    };
    let migrated = start_command(binary, "migrate", &with_port(api_port))
        .wait()
        .unwrap();
    assert!(migrated.success());
    let client = reqwest::Client::new();
    let mut api = start_command(binary, "api", &with_port(api_port));
    let mut worker = start_command(binary, "worker", &with_port(worker_port));
    wait_until_healthy(&client, &base).await;
    wait_until_healthy(&client, &format!("http://127.0.0.1:{worker_port}")).await;

    let load = mid_load();
    let target = base.clone();
    let running = tokio::spawn(async move { run_load(&target, TEST_API_SECRET, &load).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = Instant::now();
    worker.kill().unwrap();
    worker.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarted_at = Instant::now();
    let mut worker = start_command(binary, "worker", &with_port(worker_port));
    wait_until_healthy(&client, &format!("http://127.0.0.1:{worker_port}")).await;
    let healthy = Instant::now();

    let report = running.await.unwrap();
    save_fault_timeline(
        "worker-sigkill",
        &report,
        &[
            FaultWindow {
                from: killed,
                to: restarted_at,
                label: "worker killed",
            },
            FaultWindow {
                from: restarted_at,
                to: healthy,
                label: "until healthy",
            },
        ],
    );
    let client_errors: usize = report.operations.values().map(|s| s.errors).sum();
    println!(
        "worker SIGKILLed for 1 s under load: accepted {} jobs, client errors {client_errors}, restarted worker healthy after {:.2} s\n{}",
        report.accepted_jobs,
        (healthy - restarted_at).as_secs_f64(),
        report.render()
    );
    assert_eq!(report.accepted_jobs, 150, "the api kept taking jobs");
    assert!(report.nothing_lost(), "{report:?}");
    for process in [&mut api, &mut worker] {
        process.kill().ok();
        process.wait().ok();
    }
}
