//! One end-to-end suite, run against both modes: scaled out (Postgres, Redis, RabbitMQ) and
//! embedded (one SQLite file, in-process queue), so their behaviour cannot drift. Each
//! scenario is written once; `both_modes!` runs it in each.

use std::collections::HashMap;

use pika_tests::{TEST_API_SECRET, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const OTHER_SECRET: &str = "other-tenant-secret-42";

fn with_second_tenant(settings: &mut HashMap<String, String>) {
    let keys = settings.get_mut("PIKA_API_KEYS").unwrap();
    keys.push_str(&format!(",other:{OTHER_SECRET}"));
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    call_as(app, TEST_API_SECRET, method, path, body).await
}

async fn call_as(
    app: &TestApp,
    secret: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call_as(secret, method, path, body).await
}

/// Submits a conversation and waits until its job is reported finished.
async fn extract(app: &TestApp, user: &str, says: &[&str]) -> Value {
    let messages: Vec<Value> = says
        .iter()
        .map(|text| json!({"role": "user", "content": text}))
        .collect();
    let body = json!({"user_id": user, "messages": messages});
    let (status, accepted) = call(app, Method::POST, "/v1/extractions", Some(body)).await;
    assert_eq!(status, 202, "{accepted}");
    let job = accepted["job_id"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        let (status, view) = call(app, Method::GET, &format!("/v1/jobs/{job}?wait=5"), None).await;
        assert_eq!(status, 200, "{view}");
        if view["status"] == "completed" {
            return view;
        }
        assert_ne!(view["status"], "failed", "{view}");
    }
    panic!("job {job} never completed");
}

async fn search(app: &TestApp, user: &str, query: &str) -> Vec<Value> {
    let body = json!({"user_id": user, "query": query, "limit": 3, "types": ["fact"]});
    let (status, answer) = call(app, Method::POST, "/v1/search", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    answer["results"].as_array().unwrap().clone()
}

/// A search and the cache layer that answered it.
async fn search_layer(app: &TestApp, user: &str, query: &str) -> (Vec<Value>, String) {
    let response = app
        .client
        .post(app.url("/v1/search"))
        .bearer_auth(TEST_API_SECRET)
        .json(&json!({"user_id": user, "query": query, "limit": 3, "types": ["fact"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let layer = response.headers()["x-cache"].to_str().unwrap().to_owned();
    let answer: Value = response.json().await.unwrap();
    (answer["results"].as_array().unwrap().clone(), layer)
}

fn values(results: &[Value]) -> Vec<&str> {
    results
        .iter()
        .map(|r| {
            r["fact"]["value"]
                .as_str()
                .or(r["value"].as_str())
                .unwrap_or("")
        })
        .collect()
}

async fn a_conversation_becomes_searchable_facts_with_favourites_and_history(app: &TestApp) {
    let job = extract(
        app,
        "kid-1",
        &["I have a dog called Max.", "My favourite colour is blue."],
    )
    .await;
    assert!(job["result"]["added"].as_i64().unwrap() >= 2, "{job}");

    let (status, list) = call(app, Method::GET, "/v1/users/kid-1/facts", None).await;
    assert_eq!(status, 200);
    let facts = list["facts"].as_array().unwrap();
    let max = facts.iter().find(|f| f["value"] == "Max").expect("the dog");
    assert_eq!(max["source"]["job_id"], job["job_id"]);

    let found = search(app, "kid-1", "what's my dog called").await;
    assert_eq!(values(&found).first(), Some(&"Max"), "{found:?}");

    let (status, favourites) = call(app, Method::GET, "/v1/users/kid-1/favorites", None).await;
    assert_eq!(status, 200);
    assert_eq!(favourites["favorites"]["color"], "blue", "{favourites}");

    let fact = max["fact_id"].as_str().unwrap();
    let (status, history) =
        call(app, Method::GET, &format!("/v1/facts/{fact}/history"), None).await;
    assert_eq!(status, 200);
    assert_eq!(history["versions"][0]["event"], "FactAdded");
    assert_eq!(history["versions"][0]["correlation_id"], job["job_id"]);
}

async fn the_same_conversation_in_vietnamese_is_understood(app: &TestApp) {
    extract(app, "be-an", &["Con chó của em tên là Milu."]).await;
    let found = search(app, "be-an", "chó của em tên gì").await;
    assert_eq!(values(&found).first(), Some(&"Milu"), "{found:?}");
}

async fn hand_edits_are_read_back_at_their_positions_and_audited(app: &TestApp) {
    let add = json!({"key": "pet.cat", "value": "Mochi"});
    let (status, added) = call(app, Method::POST, "/v1/users/kid-2/facts", Some(add)).await;
    assert_eq!(status, 201, "{added}");
    let fact = added["fact_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/facts/{fact}?min_position={}", added["position"]);
    assert_eq!(
        call(app, Method::GET, &path, None).await.1["value"],
        "Mochi"
    );

    let fix = json!({"value": "Mochi Mèo"});
    let (status, fixed) = call(app, Method::PATCH, &format!("/v1/facts/{fact}"), Some(fix)).await;
    assert_eq!(status, 200, "{fixed}");
    let path = format!("/v1/users/kid-2/facts?min_position={}", fixed["position"]);
    let (_, list) = call(app, Method::GET, &path, None).await;
    assert_eq!(list["facts"][0]["value"], "Mochi Mèo");

    let (status, retracted) = call(
        app,
        Method::DELETE,
        &format!("/v1/facts/{fact}?reason=moved"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{retracted}");
    let path = format!("/v1/facts/{fact}?min_position={}", retracted["position"]);
    assert_eq!(call(app, Method::GET, &path, None).await.0, 404);
    let (_, history) = call(app, Method::GET, &format!("/v1/facts/{fact}/history"), None).await;
    let events: Vec<&str> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["FactAdded", "FactUpdated", "FactRetracted"]);
}

async fn a_forgotten_user_is_gone_from_facts_search_and_history(app: &TestApp) {
    extract(app, "kid-3", &["I have a dog called Max."]).await;
    let (_, list) = call(app, Method::GET, "/v1/users/kid-3/facts", None).await;
    let fact = list["facts"][0]["fact_id"].as_str().unwrap().to_owned();

    let (status, forgotten) = call(app, Method::DELETE, "/v1/users/kid-3", None).await;
    assert_eq!(status, 202, "{forgotten}");
    let path = format!(
        "/v1/users/kid-3/facts?min_position={}",
        forgotten["position"]
    );
    assert_eq!(
        call(app, Method::GET, &path, None).await.1["facts"],
        json!([])
    );
    assert!(search(app, "kid-3", "dog Max").await.is_empty());
    let (status, _) = call(app, Method::GET, &format!("/v1/facts/{fact}/history"), None).await;
    assert_eq!(status, 404);
}

async fn keys_decide_the_tenant_and_another_tenant_sees_nothing(app: &TestApp) {
    let add = json!({"key": "pet.cat", "value": "Mochi"});
    let (_, added) = call(app, Method::POST, "/v1/users/kid-4/facts", Some(add)).await;
    let fact = format!("/v1/facts/{}", added["fact_id"].as_str().unwrap());

    let (status, problem) = call_as(app, "not-a-key", Method::GET, &fact, None).await;
    assert_eq!(status, 401, "{problem}");
    let anonymous = app.client.get(app.url(&fact)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    for (method, path) in [
        (Method::GET, fact.clone()),
        (Method::GET, format!("{fact}/history")),
        (Method::DELETE, fact.clone()),
    ] {
        let (status, _) = call_as(app, OTHER_SECRET, method, &path, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let mine = format!("{fact}?min_position={}", added["position"]);
    let (status, still) = call(app, Method::GET, &mine, None).await;
    assert_eq!((status, &still["value"]), (200, &json!("Mochi")), "{still}");
}

async fn an_idempotency_key_answers_with_the_first_job(app: &TestApp) {
    let body =
        json!({"user_id": "kid-5", "messages": [{"role": "user", "content": "I like kites."}]});
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/v1/extractions"))
            .bearer_auth(TEST_API_SECRET)
            .header("Idempotency-Key", "same-request")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let accepted: Value = response.json().await.unwrap();
        jobs.push(accepted["job_id"].clone());
    }
    assert_eq!(jobs[0], jobs[1]);
}

async fn a_completed_change_is_searchable_whichever_layer_answered_before(app: &TestApp) {
    extract(app, "kid-6", &["My favourite colour is blue."]).await;
    let query = "what is my favourite colour";
    let (first, _) = search_layer(app, "kid-6", query).await;
    assert_eq!(values(&first).first(), Some(&"blue"));
    let (again, layer) = search_layer(app, "kid-6", query).await;
    assert_eq!(values(&again).first(), Some(&"blue"));
    assert_ne!(layer, "L4", "the repeated search comes from a cache");

    extract(app, "kid-6", &["My favourite colour is green now."]).await;
    let (after, layer) = search_layer(app, "kid-6", query).await;
    assert_eq!(
        values(&after).first(),
        Some(&"green"),
        "answered by {layer}: {after:?}"
    );
    assert!(!values(&after).contains(&"blue"), "{after:?}");
}

/// Episodic memory: every turn kept as said, with speaker and time, listed in time order a
/// page at a time; bad listings and bad turns are refused and change nothing; forgetting the
/// user empties it.
async fn every_turn_is_kept_with_speaker_and_time_and_forgotten_with_the_user(app: &TestApp) {
    let body = json!({
        "user_id": "caroline",
        "occurred_at": "2023-05-08T13:56:00Z",
        "messages": [
            {"role": "user", "name": "Caroline", "content": "I went to a LGBTQ support group yesterday"},
            {"role": "assistant", "name": "Melanie", "content": "That sounds brave! How was it?"},
            {"role": "user", "name": "Caroline", "content": "It was powerful", "sent_at": "2023-05-08T14:01:00Z"},
        ]
    });
    let (status, accepted) = call(app, Method::POST, "/v1/extractions", Some(body)).await;
    assert_eq!(status, 202, "{accepted}");
    let job = accepted["job_id"].as_str().unwrap().to_owned();
    assert_eq!(app.job(&job, 10).await["status"], "completed");
    extract(app, "caroline", &["My favourite colour is green"]).await;

    let list = |query: &str| format!("/v1/users/caroline/episodes{query}");
    let (status, all) = call(app, Method::GET, &list(""), None).await;
    assert_eq!(status, 200, "{all}");
    let turns = all["episodes"].as_array().unwrap();
    assert_eq!(turns.len(), 4, "{all}");
    assert_eq!(turns[0]["name"], "Caroline");
    assert_eq!(turns[0]["occurred_at"], "2023-05-08T13:56:00Z");
    assert_eq!(turns[1]["role"], "assistant");
    assert_eq!(turns[1]["name"], "Melanie");
    assert_eq!(turns[2]["occurred_at"], "2023-05-08T14:01:00Z");
    assert_eq!(turns[2]["job_id"], job.as_str());
    assert_eq!(turns[2]["message_index"], 2);
    assert_eq!(turns[3]["content"], "My favourite colour is green");
    assert!(turns[3]["name"].is_null());
    assert!(all.get("next_cursor").is_none(), "{all}");

    let (_, first) = call(app, Method::GET, &list("?limit=3"), None).await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a full page has a next cursor");
    let (_, rest) = call(
        app,
        Method::GET,
        &list(&format!("?limit=3&cursor={cursor}")),
        None,
    )
    .await;
    let paged: Vec<Value> = [&first, &rest]
        .iter()
        .flat_map(|page| page["episodes"].as_array().unwrap().clone())
        .collect();
    assert_eq!(&paged, turns, "two pages are the whole list, once each");

    let (_, window) = call(
        app,
        Method::GET,
        &list("?since=2023-05-08T13:57:00Z&until=2023-05-08T14:01:00Z"),
        None,
    )
    .await;
    assert_eq!(window["episodes"].as_array().unwrap().len(), 1, "{window}");

    // One ranking over facts and turns: a completed job's turns are searchable at once.
    let turns_found = |query: &str, extra: Value| {
        let mut body = json!({"user_id": "caroline", "query": query, "limit": 5});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        async move { call(app, Method::POST, "/v1/search", Some(body)).await }
    };
    let (status, found) = turns_found("support group", json!({})).await;
    assert_eq!(status, 200, "{found}");
    let best = &found["results"][0];
    assert_eq!(best["type"], "episode", "{found}");
    assert_eq!(best["name"], "Caroline");
    assert_eq!(best["job_id"], job.as_str());
    let (_, facts_only) = turns_found("favourite colour", json!({"types": ["fact"]})).await;
    let results = facts_only["results"].as_array().unwrap();
    assert!(
        !results.is_empty() && results.iter().all(|r| r["type"] == "fact"),
        "{facts_only}"
    );
    let (_, later) = turns_found(
        "powerful",
        json!({"types": ["episode"],
        "since": "2023-05-08T14:00:00Z", "until": "2023-05-08T14:05:00Z"}),
    )
    .await;
    assert_eq!(later["results"].as_array().unwrap().len(), 1, "{later}");
    let (_, with_context) = turns_found("support group", json!({"context": 1})).await;
    let around = with_context["results"][0]["context"].as_array().unwrap();
    assert_eq!(around.len(), 1, "{with_context}");
    assert_eq!(around[0]["name"], "Melanie");
    for (extra, what) in [
        (json!({"context": 6}), "too much context"),
        (json!({"types": ["turns"]}), "an unknown type"),
        (json!({"types": []}), "no type"),
        (
            json!({"since": "2023-05-09T00:00:00Z", "until": "2023-05-08T00:00:00Z"}),
            "since > until",
        ),
        (json!({"since": "May 8"}), "a bad time"),
    ] {
        let (status, problem) = turns_found("group", extra).await;
        assert_eq!(status, 422, "{what}: {problem}");
    }

    for bad in [
        "?since=2023-05-09T00:00:00Z&until=2023-05-08T00:00:00Z",
        "?since=yesterday",
        "?cursor=not-a-cursor",
        "?limit=0",
    ] {
        let (status, problem) = call(app, Method::GET, &list(bad), None).await;
        assert_eq!(status, 422, "{bad}: {problem}");
    }
    let too_long = "x".repeat(65);
    let refused = json!({"user_id": "caroline", "messages": [
        {"role": "user", "name": too_long, "content": "hello"}]});
    let (status, problem) = call(app, Method::POST, "/v1/extractions", Some(refused)).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("messages[0].name"),
        "{problem}"
    );
    let (_, still) = call(app, Method::GET, &list(""), None).await;
    assert_eq!(
        still["episodes"], all["episodes"],
        "a refused submission wrote nothing"
    );

    let (status, _) = call(app, Method::DELETE, "/v1/users/caroline", None).await;
    assert_eq!(status, 202);
    for _ in 0..50 {
        let (_, after) = call(app, Method::GET, &list(""), None).await;
        // The forget reaches the caches a moment after the read models: wait for both.
        let (_, found) = turns_found("support group", json!({})).await;
        if after["episodes"].as_array().unwrap().is_empty() && found["results"] == json!([]) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the forgotten user's turns are still listed or found");
}

macro_rules! both_modes {
    ($($scenario:ident),* $(,)?) => {
        mod postgres_redis_rabbitmq {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let app = TestApp::spawn_with(with_second_tenant).await;
                    super::$scenario(&app).await;
                    app.stop().await;
                }
            )*
        }
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let app = TestApp::spawn_embedded_with(with_second_tenant).await;
                    super::$scenario(&app).await;
                    app.stop().await;
                }
            )*
        }
    };
}

both_modes!(
    every_turn_is_kept_with_speaker_and_time_and_forgotten_with_the_user,
    a_conversation_becomes_searchable_facts_with_favourites_and_history,
    the_same_conversation_in_vietnamese_is_understood,
    hand_edits_are_read_back_at_their_positions_and_audited,
    a_forgotten_user_is_gone_from_facts_search_and_history,
    keys_decide_the_tenant_and_another_tenant_sees_nothing,
    an_idempotency_key_answers_with_the_first_job,
    a_completed_change_is_searchable_whichever_layer_answered_before,
);
