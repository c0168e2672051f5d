//! Faults under load, scaled out: the service's connection to PostgreSQL, Redis or RabbitMQ is
//! cut (a TCP proxy between the service and the server) in the middle of a mixed load, then
//! restored. Nothing accepted may be lost or doubled; clients may see errors during the cut,
//! which are reported with the time the service took to be ready again.
//! Also: the API and the worker as separate processes, as a scaled-out deployment runs them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pika_api::Roles;
use pika_tests::load::{
    FAULT_SAMPLE_EVERY, FaultWindow, LoadReport, LoadSettings, run_load, save_fault_timeline,
};
use pika_tests::{
    TEST_API_SECRET, TcpProxy, TestApp, amqp_url, host_port, redis_url, through_port,
};

fn load() -> LoadSettings {
    LoadSettings {
        users: 10,
        jobs: 150,
        concurrency: 6,
        searches_per_job: 2,
        rate: Some(40.0),
        duration: None,
        sample_every: Some(FAULT_SAMPLE_EVERY),
        ..LoadSettings::default()
    }
}

#[derive(Debug, Clone, Copy)]
enum Dependency {
    Postgres,
    Redis,
    RabbitMq,
}

impl Dependency {
    fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Redis => "redis",
            Self::RabbitMq => "rabbitmq",
        }
    }
}

/// Runs the load, cutting `dependency` for `outage` after one second; returns the load's
/// report, how long after the restore `/readyz` answered 200 again, and the cut and recovery
/// as windows for the timeline.
async fn load_through_a_cut(
    dependency: Dependency,
    outage: Duration,
) -> (LoadReport, Duration, Vec<FaultWindow>) {
    let upstream = match dependency {
        Dependency::Redis => host_port(&redis_url()),
        Dependency::RabbitMq => host_port(&amqp_url()),
        Dependency::Postgres => "127.0.0.1:5432".to_owned(),
    };
    let proxy = TcpProxy::start(&upstream, true).await;
    let port = proxy.port;
    let app = TestApp::spawn_with(move |settings: &mut HashMap<String, String>| {
        let name = match dependency {
            Dependency::Postgres => "PIKA_DATABASE_URL",
            Dependency::Redis => "PIKA_REDIS_URL",
            Dependency::RabbitMq => "PIKA_AMQP_URL",
        };
        let url = settings[name].clone();
        settings.insert(name.to_owned(), through_port(&url, port));
    })
    .await;
    let address = app.address.clone();
    let load = tokio::spawn(async move { run_load(&address, TEST_API_SECRET, &load()).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.cut();
    let cut = Instant::now();
    tokio::time::sleep(outage).await;
    proxy.restore();
    let restored = Instant::now();
    let client = reqwest::Client::new();
    let recovery = loop {
        let ready = client
            .get(app.url("/readyz"))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break restored.elapsed();
        }
        assert!(
            restored.elapsed() < Duration::from_secs(60),
            "never ready again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let report = load.await.unwrap();
    app.stop().await;
    let windows = vec![
        FaultWindow {
            from: cut,
            to: restored,
            label: "connection cut",
        },
        FaultWindow {
            from: restored,
            to: restored + recovery,
            label: "until ready",
        },
    ];
    (report, recovery, windows)
}

async fn nothing_is_lost_when(dependency: Dependency) {
    let (report, recovery, windows) =
        load_through_a_cut(dependency, Duration::from_millis(1500)).await;
    save_fault_timeline(&format!("{}-cut", dependency.name()), &report, &windows);
    let client_errors: usize = report.operations.values().map(|s| s.errors).sum();
    println!(
        "{dependency:?} cut for 1.5 s: accepted {} jobs, client errors {client_errors}, ready {:.2} s after the restore\n{}",
        report.accepted_jobs,
        recovery.as_secs_f64(),
        report.render()
    );
    assert!(report.accepted_jobs > 0);
    assert!(report.nothing_lost(), "{dependency:?}: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_cut_under_load_loses_nothing() {
    nothing_is_lost_when(Dependency::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cut_under_load_loses_nothing() {
    nothing_is_lost_when(Dependency::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_cut_under_load_loses_nothing() {
    nothing_is_lost_when(Dependency::RabbitMq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_process_and_two_workers_racing_on_one_users_jobs_lose_nothing() {
    let api = TestApp::spawn().await;
    let worker = api.spawn_role_beside(Roles::WORKER).await;
    let other_worker = api.spawn_role_beside(Roles::WORKER).await;
    let front = api.spawn_role_beside(Roles::API).await;
    // One user: the two workers' commits race on one aggregate, across processes.
    let settings = LoadSettings {
        users: 1,
        jobs: 60,
        concurrency: 6,
        searches_per_job: 1,
        rate: None,
        duration: None,
        sample_every: Some(FAULT_SAMPLE_EVERY),
        ..LoadSettings::default()
    };
    let report = run_load(&front.address, TEST_API_SECRET, &settings).await;
    save_fault_timeline("two-workers-one-user", &report, &[]);
    assert!(report.nothing_lost(), "{report:?}");
    assert_eq!(report.accepted_jobs, 60);
    for app in [front, other_worker, worker, api] {
        app.stop().await;
    }
}
