//! The LLM extractor against a local server that speaks the OpenAI chat protocol.

use std::sync::Arc;
use std::time::Duration;

use pika_tests::TestApp;
use pika_tests::llm_stub::{Answer, LlmStub};
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
    let job_id = app
        .submit_message(user, "Nhà em có một con chó tên là Milu.")
        .await;
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

async fn completed(app: &TestApp, job_id: &str) {
    let job = app.job(job_id, 25).await;
    assert_eq!(job["status"], "completed", "{job}");
}

fn colour(value: &str) -> Value {
    json!([{"key": "favorite.color", "value": value, "text": format!("My favourite colour is {value}"),
            "confidence": 0.95, "language": "en", "polarity": "assert", "message_indexes": [0]}])
}

/// Every job's LLM answer takes a while; a worker that ran one job at a time would never have
/// two calls open.
async fn jobs_of_many_users_wait_on_the_llm_together(app_with: impl AsyncFnOnce(&str) -> TestApp) {
    let (stub, url) =
        LlmStub::start_answering(Arc::new(|_: &str| (Duration::from_millis(1500), json!([]))))
            .await;
    let app = app_with(&url).await;
    let mut jobs = Vec::new();
    for n in 0..8 {
        jobs.push(
            app.submit_message(&format!("kid-{n}"), "Hôm nay em đi học.")
                .await,
        );
    }
    for job in &jobs {
        completed(&app, job).await;
    }
    assert!(
        stub.most_in_flight() >= 4,
        "at most {} LLM calls were open at once",
        stub.most_in_flight()
    );
    app.stop().await;
}

/// The user's first job's answer comes last; applied in answer order, the memory would end on
/// the first, outdated colour.
async fn one_users_jobs_apply_in_the_order_submitted(app_with: impl AsyncFnOnce(&str) -> TestApp) {
    let (_stub, url) = LlmStub::start_answering(Arc::new(|request: &str| {
        if request.contains("crimson") {
            (Duration::from_millis(1500), colour("crimson"))
        } else {
            (Duration::ZERO, colour("blue"))
        }
    }))
    .await;
    let app = app_with(&url).await;
    let first = app
        .submit_message("kid", "My favourite colour is crimson")
        .await;
    let second = app
        .submit_message("kid", "No, my favourite colour is blue now")
        .await;
    completed(&app, &first).await;
    completed(&app, &second).await;
    let facts = app.get_json("/v1/users/kid/facts").await;
    let colours: Vec<&Value> = facts["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|fact| fact["key"] == "favorite.color")
        .map(|fact| &fact["value"])
        .collect();
    assert_eq!(colours, [&json!("blue")], "{facts}");
    app.stop().await;
}

fn llm_settings(url: &str) -> impl FnOnce(&mut std::collections::HashMap<String, String>) {
    let url = url.to_owned();
    move |settings| {
        settings.insert("PIKA_EXTRACTOR".into(), "llm".into());
        settings.insert("PIKA_LLM_BASE_URL".into(), url);
        settings.insert("PIKA_LLM_MODEL".into(), "stub-model".into());
        settings.insert("PIKA_WORKER_CONCURRENCY".into(), "8".into());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_out_jobs_of_many_users_wait_on_the_llm_together() {
    jobs_of_many_users_wait_on_the_llm_together(async |url| {
        TestApp::spawn_with(llm_settings(url)).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_jobs_of_many_users_wait_on_the_llm_together() {
    jobs_of_many_users_wait_on_the_llm_together(async |url| {
        TestApp::spawn_embedded_with(llm_settings(url)).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_out_one_users_jobs_apply_in_the_order_submitted() {
    one_users_jobs_apply_in_the_order_submitted(async |url| {
        TestApp::spawn_with(llm_settings(url)).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_one_users_jobs_apply_in_the_order_submitted() {
    one_users_jobs_apply_in_the_order_submitted(async |url| {
        TestApp::spawn_embedded_with(llm_settings(url)).await
    })
    .await;
}

/// How many long-poll waits a notification of the read models' progress ended.
async fn waits_woken_by_notification(app: &TestApp) -> u64 {
    let metrics = app.metrics_text().await;
    metrics
        .lines()
        .find(|line| {
            line.starts_with("pika_read_model_waits_total")
                && line.contains("woken_by=\"notification\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// A job whose LLM answer takes a second: the long-poll on it is woken by the projections'
/// commits, not by looking again and again.
async fn a_long_poll_is_woken_by_the_read_models_progress(
    app_with: impl AsyncFnOnce(&str) -> TestApp,
) {
    let (_stub, url) =
        LlmStub::start_answering(Arc::new(|_: &str| (Duration::from_secs(1), json!([])))).await;
    let app = app_with(&url).await;
    let job_id = app.submit_message("kid", "Hôm nay em đi học.").await;
    completed(&app, &job_id).await;
    assert!(waits_woken_by_notification(&app).await >= 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_out_a_long_poll_is_woken_by_the_read_models_progress() {
    a_long_poll_is_woken_by_the_read_models_progress(async |url| {
        TestApp::spawn_with(llm_settings(url)).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_long_poll_is_woken_by_the_read_models_progress() {
    a_long_poll_is_woken_by_the_read_models_progress(async |url| {
        TestApp::spawn_embedded_with(llm_settings(url)).await
    })
    .await;
}
