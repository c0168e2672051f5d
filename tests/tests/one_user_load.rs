//! A thousand jobs for one user at once, in both modes: every job completes exactly once, and
//! the user ends with exactly the thousand facts the jobs imply — no duplicate, no lost update,
//! though every job commits to the same aggregate.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use pika_tests::llm_stub::{Answer, LlmStub};
use pika_tests::{TEST_API_SECRET, TestApp};
use serde_json::{Value, json};

const JOBS: usize = 1_000;
const SUBMITTERS: usize = 64;

fn toy(n: usize) -> String {
    format!("toy-{n:04}")
}

/// Each LLM answer names one toy, so each job (whichever answer it gets) adds one fact.
fn answers() -> Vec<Answer> {
    (0..JOBS)
        .map(|n| {
            Answer::Facts(json!([{"key": "likes.thing", "value": toy(n),
                "text": format!("likes {}", toy(n)), "confidence": 0.9, "language": "en",
                "polarity": "assert", "message_indexes": [0]}]))
        })
        .collect()
}

fn with_llm(url: String) -> impl FnOnce(&mut HashMap<String, String>) {
    move |settings| {
        settings.insert("PIKA_EXTRACTOR".into(), "llm".into());
        settings.insert("PIKA_LLM_BASE_URL".into(), url);
        settings.insert("PIKA_LLM_MODEL".into(), "stub-model".into());
        settings.insert("PIKA_LLM_TIMEOUT_SECS".into(), "20".into());
    }
}

async fn submit_all(app: &Arc<TestApp>) -> Vec<String> {
    let mut submitters = Vec::new();
    for submitter in 0..SUBMITTERS {
        let app = app.clone();
        submitters.push(tokio::spawn(async move {
            let mut jobs = Vec::new();
            for n in (submitter..JOBS).step_by(SUBMITTERS) {
                let body = json!({"user_id": "busy-kid", "messages": [
                    {"role": "user", "content": format!("Today I played with my toys ({n}).")}
                ]});
                let response = app
                    .client
                    .post(app.url("/v1/extractions"))
                    .bearer_auth(TEST_API_SECRET)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 202);
                let accepted: Value = response.json().await.unwrap();
                jobs.push(accepted["job_id"].as_str().unwrap().to_owned());
            }
            jobs
        }));
    }
    let mut jobs = Vec::new();
    for submitter in submitters {
        jobs.extend(submitter.await.unwrap());
    }
    jobs
}

async fn a_thousand_concurrent_jobs_for_one_user_lose_and_double_nothing(app: TestApp) {
    let app = Arc::new(app);
    let jobs = submit_all(&app).await;
    assert_eq!(
        jobs.iter().collect::<BTreeSet<_>>().len(),
        JOBS,
        "distinct jobs"
    );
    // One user's jobs apply one after another (in submission order), each on a memory that
    // grows to a thousand facts, so the last ones finish well after they were submitted. What
    // is checked is that none is lost or doubled, not how fast one user's backlog drains:
    // a job may take longer than one long-poll while the others ahead of it apply.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(600);
    for job in &jobs {
        let mut view = app.job(job, 30).await;
        while ["queued", "running"].contains(&view["status"].as_str().unwrap_or_default())
            && tokio::time::Instant::now() < deadline
        {
            view = app.job(job, 30).await;
        }
        assert_eq!(view["status"], "completed", "{view}");
        assert_eq!(view["result"]["added"], 1, "{view}");
    }
    let facts = app.get_json("/v1/users/busy-kid/facts").await;
    let values: Vec<&str> = facts["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|fact| fact["value"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&str> = values.iter().copied().collect();
    assert_eq!(values.len(), JOBS, "no fact lost or doubled");
    let expected: BTreeSet<String> = (0..JOBS).map(toy).collect();
    assert_eq!(
        distinct,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    let sources: BTreeSet<&str> = facts["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|fact| fact["source"]["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(sources.len(), JOBS, "one fact from each job");
    Arc::into_inner(app).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_jobs_for_one_user_scaled_out() {
    let (_stub, url) = LlmStub::start(answers()).await;
    let app = TestApp::spawn_with(with_llm(url)).await;
    a_thousand_concurrent_jobs_for_one_user_lose_and_double_nothing(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_jobs_for_one_user_embedded() {
    let (_stub, url) = LlmStub::start(answers()).await;
    let app = TestApp::spawn_embedded_with(with_llm(url)).await;
    a_thousand_concurrent_jobs_for_one_user_lose_and_double_nothing(app).await;
}
