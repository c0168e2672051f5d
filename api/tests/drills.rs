//! A drill too long for every CI run (three minutes), run by hand before a release and
//! recorded in docs/RELIABILITY.md:
//!
//! `cargo nextest run -p pika-api --test drills --run-ignored only --no-capture`
//!
//! It needs separate `api` and `worker` processes of the binary, which `pika-tests`' in-process
//! drills cannot kill; the Postgres and RabbitMQ cuts without a kill are there.

use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pika_tests::drill::{DRILL_JOBS, OUTAGE, assert_recovered, job_statuses, until_all_completed};
use pika_tests::llm_stub::LlmStub;
use pika_tests::process::{free_port, start_command, wait_until_healthy};
use pika_tests::{
    TEST_API_SECRET, TcpProxy, TestDatabase, amqp_url, host_port, test_settings, through_port,
    unique_prefix,
};
use serde_json::json;
use sqlx::PgPool;

/// When in the cut the worker is killed: mid-job, its deliveries unacknowledged.
const KILL_AFTER: Duration = Duration::from_secs(10);
/// How often a supervisor (systemd, Kubernetes) starts a worker that is not running.
const RESTART_EVERY: Duration = Duration::from_secs(2);

/// A supervisor's view of the worker: started again whenever it is not running (it cannot
/// start while a dependency is unreachable, so during the cut each start ends at once).
struct SupervisedWorker {
    settings: Vec<(String, String)>,
    process: Child,
    starts: usize,
}

impl SupervisedWorker {
    fn binary() -> &'static Path {
        Path::new(env!("CARGO_BIN_EXE_pika-memory"))
    }

    fn start(settings: Vec<(String, String)>) -> Self {
        let process = start_command(Self::binary(), "worker", &settings);
        Self {
            settings,
            process,
            starts: 1,
        }
    }

    fn sigkill(&mut self) {
        self.process.kill().ok();
        self.process.wait().ok();
    }

    fn keep_running(&mut self) {
        if matches!(self.process.try_wait(), Ok(Some(_))) {
            self.process = start_command(Self::binary(), "worker", &self.settings);
            self.starts += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 3-minute drill; see the module docs"]
async fn a_worker_sigkilled_during_a_postgres_cut_strands_no_job() {
    cut_and_kill("PIKA_DATABASE_URL", "127.0.0.1:5432").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 3-minute drill; see the module docs"]
async fn a_worker_sigkilled_during_a_rabbitmq_cut_strands_no_job() {
    cut_and_kill("PIKA_AMQP_URL", &host_port(&amqp_url())).await;
}

/// 600 jobs of 100 users, the LLM taking a second a call, the dependency behind `setting` cut
/// for a minute and the worker SIGKILLed ten seconds in and restarted by a supervisor: every
/// job completes within two minutes of the restore.
async fn cut_and_kill(setting: &str, upstream: &str) {
    let (_stub, llm_url) =
        LlmStub::start_answering(Arc::new(|_: &str| (Duration::from_secs(1), json!([])))).await;
    let database = TestDatabase::empty().await;
    let proxy = TcpProxy::start(upstream, true).await;
    let mut shared = test_settings(&database, &unique_prefix());
    let direct_url = shared[setting].clone();
    shared.insert(setting.into(), through_port(&direct_url, proxy.port));
    shared.insert("PIKA_EXTRACTOR".into(), "llm".into());
    shared.insert("PIKA_LLM_BASE_URL".into(), llm_url);
    shared.insert("PIKA_LLM_MODEL".into(), "stub-model".into());
    let with_port = |port: u16| {
        let mut settings: Vec<(String, String)> = shared.clone().into_iter().collect();
        settings.retain(|(name, _)| name != "PIKA_HTTP_ADDR");
        settings.push(("PIKA_HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")));
        settings
    };
    let binary = SupervisedWorker::binary();
    let (api_port, worker_port) = (free_port(), free_port());
    let migrated = start_command(binary, "migrate", &with_port(api_port))
        .wait()
        .expect("migrate runs");
    assert!(migrated.success());
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{api_port}");
    let mut api = start_command(binary, "api", &with_port(api_port));
    let mut worker = SupervisedWorker::start(with_port(worker_port));
    wait_until_healthy(&client, &base).await;
    wait_until_healthy(&client, &format!("http://127.0.0.1:{worker_port}")).await;

    let direct = PgPool::connect(&database.url)
        .await
        .expect("the test reaches its database");
    for n in 0..DRILL_JOBS {
        let accepted = client
            .post(format!("{base}/v1/extractions"))
            .bearer_auth(TEST_API_SECRET)
            .json(&json!({
                "user_id": format!("kid-{}", n % 100),
                "messages": [{ "role": "user", "content": "Hôm nay em đi học." }],
            }))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(accepted.status(), 202, "job {n} accepted");
    }
    proxy.cut();
    let cut = Instant::now();
    let at_cut = job_statuses(&direct).await;
    tokio::time::sleep(KILL_AFTER).await;
    worker.sigkill();
    while cut.elapsed() < OUTAGE {
        worker.keep_running();
        tokio::time::sleep(RESTART_EVERY).await;
    }
    proxy.restore();
    let (last, recovery) =
        until_all_completed(&direct, Instant::now(), || worker.keep_running()).await;
    println!(
        "{setting}: {DRILL_JOBS} jobs; at the cut {at_cut:?}; worker SIGKILLed {KILL_AFTER:?} into a {OUTAGE:?} cut, started {} times in all; after the restore {last:?} in {recovery:.1?}",
        worker.starts
    );
    worker.sigkill();
    api.kill().ok();
    api.wait().ok();
    assert_recovered(&last, recovery);
}
