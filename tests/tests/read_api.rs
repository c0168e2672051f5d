//! The read routes over HTTP: a user's facts, facts as of a time, a fact's history.

use std::time::Duration;

use pika_commands::{CommandContext, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_tests::{TEST_API_SECRET, TestApp};
use serde_json::Value;

const OTHER_SECRET: &str = "other-tenant-secret-42";

fn candidate(key: &str, value: &str) -> FactCandidate {
    FactCandidate {
        key: FactKey::parse(key).unwrap(),
        value: FactValue::parse(value).unwrap(),
        text: FactText::parse(&format!("Con thích {value}")).unwrap(),
        confidence: Confidence::new(0.9).unwrap(),
        language: Language::parse("vi").unwrap(),
        source: FactSource {
            job_id: Some(JobId::generate()),
            message_indexes: vec![0, 2],
        },
    }
}

async fn get(app: &TestApp, path: &str, secret: &str) -> (u16, Value, String) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        content_type,
    )
}

async fn facts_of(app: &TestApp, user: &str) -> Vec<Value> {
    get(app, &format!("/v1/users/{user}/facts"), TEST_API_SECRET)
        .await
        .1["facts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_history_and_as_of_are_served_per_tenant() {
    let app = TestApp::spawn_with(|settings| {
        let keys = settings.get_mut("PIKA_API_KEYS").unwrap();
        keys.push_str(&format!(",other:{OTHER_SECRET}"));
    })
    .await;
    let pool = app.database.pool(2).await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let tenant = TenantId::parse(pika_tests::TEST_TENANT).unwrap();
    let kid = UserId::parse("be-an").unwrap();
    let context = CommandContext::new("req-http", "test");
    let fact_id = FactId::generate();
    let add = |value: &str, id: FactId| UserMemoryCommand::AddFact {
        fact_id: id,
        candidate: candidate("favorite.food", value),
    };
    model
        .execute_user_memory(&tenant, &kid, add("phở", fact_id), &context)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    model
        .execute_user_memory(&tenant, &kid, add("bánh mì", FactId::generate()), &context)
        .await
        .unwrap();

    for _ in 0..100 {
        let facts = facts_of(&app, "be-an").await;
        if facts.first().is_some_and(|f| f["value"] == "bánh mì") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let facts = facts_of(&app, "be-an").await;
    assert_eq!(facts.len(), 1);
    assert_eq!(
        facts[0]["value"], "bánh mì",
        "Vietnamese survives the round trip"
    );
    assert_eq!(
        facts[0]["source"]["message_indexes"],
        serde_json::json!([0, 2])
    );
    assert!(facts[0]["source"]["job_id"].is_string());

    let as_of = format!(
        "/v1/users/be-an/facts?as_of={}",
        between.to_rfc3339().replace('+', "%2B")
    );
    let (status, body, _) = get(&app, &as_of, TEST_API_SECRET).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["facts"][0]["value"], "phở");

    let history = format!("/v1/facts/{fact_id}/history");
    let (status, body, _) = get(&app, &history, TEST_API_SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(body["versions"].as_array().unwrap().len(), 2);
    assert_eq!(body["versions"][1]["old_value"], "phở");

    // Another tenant sees nothing of this one.
    let (status, body, content_type) = get(&app, &history, OTHER_SECRET).await;
    assert_eq!(status, 404);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], 404);
    let (_, body, _) = get(&app, "/v1/users/be-an/facts", OTHER_SECRET).await;
    assert_eq!(body["facts"], serde_json::json!([]));
    app.stop().await;
}

#[tokio::test]
async fn bad_keys_ids_and_times_get_problem_documents() {
    let app = TestApp::spawn().await;
    let (status, body, content_type) = get(&app, "/v1/users/be-an/facts", "wrong-secret").await;
    assert_eq!(
        (status, content_type.as_str()),
        (401, "application/problem+json")
    );
    assert_eq!(body["type"], "/problems/unauthorized");
    let response = app
        .client
        .get(app.url("/v1/users/be-an/facts"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    let (status, body, _) = get(&app, "/v1/users/b%C3%A9%20An/facts", TEST_API_SECRET).await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("user_id"),
        "{body}"
    );
    let (status, body, _) = get(
        &app,
        "/v1/users/be-an/facts?as_of=yesterday",
        TEST_API_SECRET,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("query"), "{body}");
    let (status, _, _) = get(&app, "/v1/users/be-an/facts?colour=blue", TEST_API_SECRET).await;
    assert_eq!(status, 400, "unknown parameters are refused");
    let (status, _, _) = get(&app, "/v1/facts/not-a-uuid/history", TEST_API_SECRET).await;
    assert_eq!(status, 400);
    let unknown = format!("/v1/facts/{}/history", uuid::Uuid::now_v7());
    let (status, _, _) = get(&app, &unknown, TEST_API_SECRET).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_server_refuses_to_start_without_a_key_unless_told_to_run_open() {
    let database = pika_tests::TestDatabase::empty().await;
    let mut settings = pika_tests::test_settings(&database, &pika_tests::unique_prefix());
    settings.remove("PIKA_API_KEYS");
    let error = pika_api::Application::build(pika_tests::config_from(&settings))
        .await
        .expect_err("no key");
    assert!(format!("{error:#}").contains("PIKA_API_KEYS"), "{error:#}");
    settings.insert("PIKA_ALLOW_UNAUTHENTICATED".into(), "true".into());
    assert!(
        pika_api::Application::build(pika_tests::config_from(&settings))
            .await
            .is_ok()
    );
}
