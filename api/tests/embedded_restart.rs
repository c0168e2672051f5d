//! The embedded mode killed mid-way (SIGKILL, no chance to clean up) while jobs run: after a
//! restart on the same data directory every accepted job completes exactly once and no fact is
//! lost or doubled.

use std::path::Path;
use std::process::Child;

use pika_commands::sqlite::connect_sqlite;
use pika_tests::data_dir::TestDataDir;
use pika_tests::process::{free_port, start_serve, wait_until_healthy};
use pika_tests::{TEST_API_SECRET, TEST_TENANT, model_dir};
use serde_json::{Value, json};

const JOBS: usize = 40;

fn start(settings: &[(String, String)]) -> Child {
    start_serve(Path::new(env!("CARGO_BIN_EXE_pika-memory")), settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_sigkill_and_each_completes_once_after_the_restart() {
    let data = TestDataDir::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let settings: Vec<(String, String)> = [
        ("PIKA_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("PIKA_DATA_DIR", data.path().display().to_string()),
        ("PIKA_API_KEYS", format!("{TEST_TENANT}:{TEST_API_SECRET}")),
        ("PIKA_MODEL_DIR", model_dir()),
        (
            "PIKA_ONNXRUNTIME_LIBRARY",
            pika_tests::onnxruntime_library(),
        ),
        ("PIKA_LOG_FORMAT", "text".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let client = reqwest::Client::new();
    let mut server = start(&settings);
    wait_until_healthy(&client, &base).await;

    let mut jobs = Vec::new();
    for n in 0..JOBS {
        let body = json!({"user_id": format!("kid-{n}"), "messages": [
            {"role": "user", "content": "I have a dog called Max. My favourite colour is blue."}
        ]});
        let accepted: Value = client
            .post(format!("{base}/v1/extractions"))
            .bearer_auth(TEST_API_SECRET)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jobs.push(accepted["job_id"].as_str().unwrap().to_owned());
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let pool = connect_sqlite(data.path(), 1).await.unwrap();
    let completed_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'Completed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        (completed_before as usize) < JOBS,
        "the kill must come while jobs are pending ({completed_before} of {JOBS} done)"
    );

    let mut restarted = start(&settings);
    wait_until_healthy(&client, &base).await;
    for job in &jobs {
        let view: Value = client
            .get(format!("{base}/v1/jobs/{job}?wait=25"))
            .bearer_auth(TEST_API_SECRET)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(view["status"], "completed", "{view}");
    }
    for (n, job) in jobs.iter().enumerate() {
        let completions: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events
              WHERE aggregate_type = 'ExtractionJob' AND aggregate_id LIKE '%' || ?
                AND event_type = 'Completed'",
        )
        .bind(job)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(completions, 1, "job {job} completed exactly once");
        let facts: Value = client
            .get(format!("{base}/v1/users/kid-{n}/facts"))
            .bearer_auth(TEST_API_SECRET)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut values: Vec<&str> = facts["facts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|fact| fact["value"].as_str().unwrap())
            .collect();
        values.sort_unstable();
        assert_eq!(
            values,
            ["Max", "blue"],
            "kid-{n}: nothing lost, nothing doubled"
        );
    }
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM job_queue")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(queued, 0, "the queue is empty");
    restarted.kill().ok();
    restarted.wait().ok();
}
