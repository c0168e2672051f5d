//! SIGTERM to a running `pika-memory serve` while it extracts a job: the process stops
//! accepting, finishes (or hands back) the job, and exits; after a restart the job is
//! completed exactly once.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pika_tests::llm_stub::{Answer, LlmStub};
use pika_tests::process::{free_port, start_serve, wait_until_healthy};
use pika_tests::{TEST_API_SECRET, TestDatabase, test_settings, unique_prefix};
use serde_json::{Value, json};

fn start(settings: &[(String, String)]) -> Child {
    start_serve(Path::new(env!("CARGO_BIN_EXE_pika-memory")), settings)
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
