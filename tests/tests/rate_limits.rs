//! Per-tenant limits: over its rate or its requests in flight a tenant gets a 429 problem with
//! Retry-After, nothing changes, and other tenants are not affected.

use std::sync::Arc;
use std::time::Duration;

use pika_tests::llm_stub::LlmStub;
use pika_tests::{TEST_API_SECRET, TEST_TENANT, TestApp};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

const OTHER_SECRET: &str = "other-secret-0123456789";

async fn search(app: &TestApp, secret: &str) -> Response {
    app.client
        .post(app.url("/v1/search"))
        .bearer_auth(secret)
        .json(&json!({"user_id": "kid", "query": "dog"}))
        .send()
        .await
        .unwrap()
}

async fn assert_too_many(response: Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 429, "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_rate_is_refused_with_retry_after_and_nothing_changes() {
    let app = TestApp::spawn_with(|settings| {
        settings.insert(
            "PIKA_API_KEYS".into(),
            format!("{TEST_TENANT}:{TEST_API_SECRET},other:{OTHER_SECRET}"),
        );
        settings.insert("PIKA_RATE_LIMIT".into(), "1000/min".into());
        settings.insert(
            "PIKA_TENANT_RATE_LIMITS".into(),
            format!("{TEST_TENANT}=3/min"),
        );
    })
    .await;
    for _ in 0..3 {
        assert_eq!(search(&app, TEST_API_SECRET).await.status(), 200);
    }
    assert_too_many(search(&app, TEST_API_SECRET).await).await;
    let write = app
        .client
        .post(app.url("/v1/users/kid/facts"))
        .bearer_auth(TEST_API_SECRET)
        .json(&json!({"key": "pet.dog", "value": "Max", "text": "I have a dog called Max"}))
        .send()
        .await
        .unwrap();
    assert_too_many(write).await;
    // Another tenant has an allowance of its own; the probes are never limited.
    for _ in 0..5 {
        assert_eq!(search(&app, OTHER_SECRET).await.status(), 200);
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // A process of the same deployment without limits sees that the refused write changed
    // nothing.
    let unlimited = app
        .spawn_role_beside_with(pika_api::Roles::API, |settings| {
            settings.remove("PIKA_TENANT_RATE_LIMITS");
            settings.remove("PIKA_RATE_LIMIT");
        })
        .await;
    let facts = unlimited.get_json("/v1/users/kid/facts").await;
    assert_eq!(facts["facts"], json!([]), "{facts}");
    unlimited.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_a_request_in_flight_at_its_limit_is_refused_until_it_ends() {
    let (stub, url) =
        LlmStub::start_answering(Arc::new(|_: &str| (Duration::from_secs(5), json!([])))).await;
    let app = TestApp::spawn_with(move |settings| {
        settings.insert("PIKA_EXTRACTOR".into(), "llm".into());
        settings.insert("PIKA_LLM_BASE_URL".into(), url);
        settings.insert("PIKA_LLM_MODEL".into(), "stub-model".into());
        settings.insert("PIKA_TENANT_MAX_IN_FLIGHT".into(), "1".into());
    })
    .await;
    let job_id = app.submit_message("kid", "Hi").await;
    while stub.requests_seen() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A long-poll on the job holds the tenant's one slot until the LLM answers. (A long-poll
    // that lost the slot to one of the searches below is refused itself and tried again.)
    let long_poll_url = app.url(&format!("/v1/jobs/{job_id}?wait=25"));
    let start_long_poll = || {
        let (client, url) = (app.client.clone(), long_poll_url.clone());
        tokio::spawn(async move {
            let response = client.get(url).bearer_auth(TEST_API_SECRET).send().await;
            let response = response.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        })
    };
    let mut long_poll = start_long_poll();
    let refused = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if long_poll.is_finished() {
            let (status, body) = (&mut long_poll).await.unwrap();
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
            long_poll = start_long_poll();
            continue;
        }
        let response = search(&app, TEST_API_SECRET).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            break response;
        }
    };
    assert_too_many(refused).await;
    let (_, job) = long_poll.await.unwrap();
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(search(&app, TEST_API_SECRET).await.status(), 200);
    app.stop().await;
}
