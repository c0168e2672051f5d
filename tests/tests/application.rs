//! The real application on a free port, against real Postgres, Redis and RabbitMQ.

use pika_tests::TestApp;

#[tokio::test]
async fn health_and_readiness_answer_with_every_dependency_up() {
    let app = TestApp::spawn().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["postgres", "redis", "rabbitmq"]);
    app.stop().await;
}

#[tokio::test]
async fn readiness_names_the_dependency_that_is_down() {
    let app = TestApp::spawn_with(|settings| {
        settings.insert("PIKA_REDIS_URL".into(), "redis://127.0.0.1:1".into());
    })
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    let redis = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "redis")
        .unwrap();
    assert_eq!(redis["ok"], false);
    assert!(redis["error"].as_str().is_some());
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_answer_with_a_problem_document() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/v1/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["type"], "/problems/not-found");
    assert!(body["detail"].as_str().unwrap().contains("/v1/nowhere"));
    app.stop().await;
}

#[tokio::test]
async fn the_application_refuses_to_start_against_an_unreachable_database() {
    let database = pika_tests::TestDatabase::empty().await;
    let mut settings = pika_tests::test_settings(&database, &pika_tests::unique_prefix());
    settings.insert(
        "PIKA_DATABASE_URL".into(),
        "postgres://postgres@127.0.0.1:1/nothing".into(),
    );
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        pika_api::Application::build(pika_tests::config_from(&settings)),
    )
    .await
    .expect("fails fast instead of hanging");
    let error = format!("{:#}", started.expect_err("no database"));
    assert!(error.contains("PIKA_DATABASE_URL"), "{error}");
}

#[tokio::test]
async fn metrics_show_requests_by_route_and_status_and_projection_lag() {
    let app = TestApp::spawn().await;
    let added: serde_json::Value = app
        .client
        .post(app.url("/v1/users/kid/facts"))
        .bearer_auth(pika_tests::TEST_API_SECRET)
        .json(&serde_json::json!({"key": "favorite.color", "value": "blue"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let position = added["position"].as_i64().expect("the commit's position");
    let listed = app
        .client
        .get(app.url(&format!("/v1/users/kid/facts?min_position={position}")))
        .bearer_auth(pika_tests::TEST_API_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let missing = app.client.get(app.url("/v1/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let metrics = app.metrics_text().await;
    let has = |needle: &[&str]| {
        metrics
            .lines()
            .any(|line| needle.iter().all(|part| line.contains(part)))
    };
    assert!(
        has(&[
            "pika_http_requests_total{",
            "route=\"/v1/users/{user_id}/facts\"",
            "method=\"GET\"",
            "status=\"200\"",
        ]),
        "{metrics}"
    );
    assert!(
        has(&[
            "pika_http_requests_total{",
            "route=\"unmatched\"",
            "status=\"404\""
        ]),
        "{metrics}"
    );
    assert!(
        has(&[
            "pika_http_request_duration_seconds_bucket{",
            "route=\"/v1/users/{user_id}/facts\"",
        ]),
        "latency is a histogram: {metrics}"
    );
    assert!(
        has(&["pika_projection_lag_events{projection=\"facts\"} 0"]),
        "{metrics}"
    );
    assert!(
        has(&["pika_projection_position{projection=\"facts\"}"]),
        "{metrics}"
    );
    app.stop().await;
}
