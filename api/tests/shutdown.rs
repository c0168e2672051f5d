//! SIGTERM to a running `pika-memory serve` while it extracts a job: the process stops
//! accepting, finishes (or hands back) the job, and exits; after a restart the job is
//! completed exactly once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pika_tests::llm_stub::{Answer, LlmStub};
use pika_tests::{TEST_API_SECRET, TestDatabase, test_settings, unique_prefix};
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn start(settings: &[(String, String)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pika-memory"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("PIKA_")) {
        command.env_remove(name);
    }
    command
        .arg("serve")
        .envs(settings.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts")
}

async fn wait_until_healthy(client: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not come up at {base}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_job_loses_nothing_and_applies_it_once() {
    let (stub, llm) = LlmStub::start(vec![Answer::Slow(Duration::from_secs(3))]).await;
    let database = TestDatabase::empty().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut settings: Vec<(String, String)> = test_settings(&database, &unique_prefix())
        .into_iter()
        .collect();
    settings.extend([
        ("PIKA_HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")),
        ("PIKA_EXTRACTOR".to_owned(), "llm".to_owned()),
        ("PIKA_LLM_BASE_URL".to_owned(), llm),
        ("PIKA_LLM_MODEL".to_owned(), "stub-model".to_owned()),
        ("PIKA_LLM_TIMEOUT_SECS".to_owned(), "20".to_owned()),
    ]);
    let client = reqwest::Client::new();
    let mut server = start(&settings);
    wait_until_healthy(&client, &base).await;

    let accepted: Value = client
        .post(format!("{base}/v1/extractions"))
        .bearer_auth(TEST_API_SECRET)
        .json(&json!({"user_id": "kid", "messages": [{"role": "user", "content": "I have a dog called Max."}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = accepted["job_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stub.requests().is_empty() {
        assert!(Instant::now() < deadline, "the worker never called the LLM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let terminated = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(30),
            "the server did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "a graceful stop exits 0: {status}");

    let mut restarted = start(&settings);
    wait_until_healthy(&client, &base).await;
    let job: Value = client
        .get(format!("{base}/v1/jobs/{job_id}?wait=25"))
        .bearer_auth(TEST_API_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "completed", "{job}");

    let pool = database.pool(1).await;
    let completions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events
          WHERE aggregate_type = 'ExtractionJob' AND aggregate_id LIKE '%' || $1
            AND event_type = 'Completed'",
    )
    .bind(&job_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(completions, 1, "the job completed exactly once");
    restarted.kill().ok();
    restarted.wait().ok();
}
