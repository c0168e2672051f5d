//! The LLM extractor against a local server that speaks the OpenAI chat protocol.

use std::time::Duration;

use pika_tests::llm_stub::{Answer, LlmStub};
use pika_tests::{TEST_API_SECRET, TestApp};
use serde_json::{Value, json};

async fn app_with_llm(url: &str) -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.insert("PIKA_EXTRACTOR".into(), "llm".into());
        settings.insert("PIKA_LLM_BASE_URL".into(), url.into());
        settings.insert("PIKA_LLM_MODEL".into(), "stub-model".into());
        settings.insert("PIKA_LLM_TIMEOUT_SECS".into(), "1".into());
    })
    .await
}

async fn run_job(app: &TestApp, user: &str) -> Value {
    let body = json!({"user_id": user, "messages": [{"role": "user", "content": "Nhà em có một con chó tên là Milu."}]});
    let accepted: Value = app
        .client
        .post(app.url("/v1/extractions"))
        .bearer_auth(TEST_API_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = accepted["job_id"].as_str().unwrap();
    app.get_json(&format!("/v1/jobs/{job_id}?wait=25")).await
}

fn milu() -> Value {
    json!([{"key": "pet.dog", "value": "Milu", "text": "Em có một con chó tên là Milu", "confidence": 0.95,
            "language": "vi", "polarity": "assert", "message_indexes": [0]}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_llm_output_is_applied_in_the_users_language() {
    let (stub, url) = LlmStub::start(vec![Answer::Facts(milu())]).await;
    let app = app_with_llm(&url).await;
    let job = run_job(&app, "be-llm").await;
    assert_eq!(job["status"], "completed", "{job}");
    let facts: Value = app.get_json("/v1/users/be-llm/facts").await;
    assert_eq!(facts["facts"][0]["key"], "pet.dog");
    assert_eq!(facts["facts"][0]["text"], "Em có một con chó tên là Milu");
    assert_eq!(facts["facts"][0]["language"], "vi");
    let requests = stub.requests();
    assert_eq!(requests[0]["model"], "stub-model");
    assert!(
        requests[0]["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Milu")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_retried() {
    let (stub, url) = LlmStub::start(vec![
        Answer::Slow(Duration::from_secs(3)),
        Answer::Facts(milu()),
    ])
    .await;
    let app = app_with_llm(&url).await;
    let job = run_job(&app, "be-slow").await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["attempts"], 2);
    assert_eq!(stub.requests().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_answer_fails_the_job_with_the_reason() {
    let (_stub, url) = LlmStub::start(vec![Answer::Malformed]).await;
    let app = app_with_llm(&url).await;
    let job = run_job(&app, "be-garbled").await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["last_error"].as_str().unwrap().contains("not the JSON"),
        "{job}"
    );
    app.stop().await;
}
