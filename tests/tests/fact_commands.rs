//! Adding, correcting, retracting facts and forgetting a user over HTTP, against the real app.

use std::time::{Duration, Instant};

use pika_tests::{TEST_API_SECRET, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const OTHER_SECRET: &str = "other-tenant-secret-42";

/// Status, body and content type of one call; `body` is sent as JSON when given.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    secret: &str,
    body: Option<Value>,
) -> (u16, Value, String) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(secret);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
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

async fn add(app: &TestApp, user: &str, body: Value) -> (u16, Value) {
    let path = format!("/v1/users/{user}/facts");
    let (status, body, _) = call(app, Method::POST, &path, TEST_API_SECRET, Some(body)).await;
    (status, body)
}

async fn get(app: &TestApp, path: &str, secret: &str) -> (u16, Value) {
    let (status, body, _) = call(app, Method::GET, path, secret, None).await;
    (status, body)
}

/// Every event in the store, to show that a refused request wrote nothing.
async fn event_count(app: &TestApp) -> i64 {
    let pool = app.database.pool(1).await;
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap()
}

fn two_tenants() -> impl FnOnce(&mut std::collections::HashMap<String, String>) {
    |settings| {
        let keys = settings.get_mut("PIKA_API_KEYS").unwrap();
        keys.push_str(&format!(",other:{OTHER_SECRET}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fact_is_added_corrected_and_retracted_by_hand() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/v1/users/be-an/facts"))
        .bearer_auth(TEST_API_SECRET)
        .json(
            &json!({"key": "favorite.food", "value": "phở", "text": "Bé An thích phở",
                      "confidence": 0.9, "language": "vi"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let added: Value = response.json().await.unwrap();
    let fact_id = added["fact_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/facts/{fact_id}"));
    assert_eq!(
        (&added["outcome"], &added["version"]),
        (&json!("added"), &json!(1))
    );
    assert!(added["position"].as_i64().unwrap() > 0);

    let (status, fact) = get(
        &app,
        &format!("{location}?min_position={}", added["position"]),
        TEST_API_SECRET,
    )
    .await;
    assert_eq!(status, 200, "{fact}");
    assert_eq!(
        (
            &fact["value"],
            &fact["text"],
            &fact["language"],
            &fact["confidence"]
        ),
        (
            &json!("phở"),
            &json!("Bé An thích phở"),
            &json!("vi"),
            &json!(0.9)
        )
    );
    assert_eq!(fact["kind"], "preference");

    let (status, again) = add(
        &app,
        "be-an",
        json!({"key": "favorite.food", "value": "Phở"}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (&again["outcome"], &again["fact_id"]),
        (&json!("unchanged"), &json!(fact_id))
    );

    let (status, replaced) = add(
        &app,
        "be-an",
        json!({"key": "favorite.food", "value": "bún chả"}),
    )
    .await;
    assert_eq!(status, 200, "a single-valued key updates the live fact");
    assert_eq!(
        (
            &replaced["outcome"],
            &replaced["fact_id"],
            &replaced["version"]
        ),
        (&json!("updated"), &json!(fact_id), &json!(2))
    );

    let response = app
        .client
        .patch(app.url(&location))
        .bearer_auth(TEST_API_SECRET)
        .header("x-request-id", "correct-42")
        .json(&json!({"value": "bánh mì"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let corrected: Value = response.json().await.unwrap();
    assert_eq!(
        (
            &corrected["outcome"],
            &corrected["version"],
            &corrected["text"]
        ),
        (
            &json!("updated"),
            &json!(3),
            &json!("favorite.food: bánh mì")
        )
    );
    let path = format!("{location}?min_position={}", corrected["position"]);
    let (_, fact) = get(&app, &path, TEST_API_SECRET).await;
    assert_eq!(
        (&fact["value"], &fact["version"], &fact["confidence"]),
        (&json!("bánh mì"), &json!(3), &json!(1.0))
    );

    let path = format!("{location}?reason=asked%20by%20parent");
    let (status, retracted, _) = call(&app, Method::DELETE, &path, TEST_API_SECRET, None).await;
    assert_eq!(status, 200, "{retracted}");
    assert_eq!(retracted["fact_id"], json!(fact_id));
    let min = retracted["position"].as_i64().unwrap();
    assert!(min > corrected["position"].as_i64().unwrap());
    let (status, _) = get(
        &app,
        &format!("{location}?min_position={min}"),
        TEST_API_SECRET,
    )
    .await;
    assert_eq!(status, 404, "a retracted fact is no longer live");
    let path = format!("/v1/users/be-an/facts?min_position={min}");
    assert_eq!(
        get(&app, &path, TEST_API_SECRET).await.1["facts"],
        json!([])
    );

    let (status, history) = get(&app, &format!("{location}/history"), TEST_API_SECRET).await;
    assert_eq!(status, 200);
    let versions = history["versions"].as_array().unwrap();
    let events: Vec<&str> = versions
        .iter()
        .map(|v| v["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["FactAdded", "FactUpdated", "FactUpdated", "FactRetracted"]
    );
    assert!(versions.iter().all(|v| v["actor"] == "api:test"));
    assert_eq!(versions[2]["correlation_id"], "correct-42");

    // An unbounded request id is not copied into the log: the request gets a fresh one.
    let response = app
        .client
        .post(app.url("/v1/users/be-an/facts"))
        .bearer_auth(TEST_API_SECRET)
        .header("x-request-id", "x".repeat(6_000))
        .json(&json!({"key": "likes.sport", "value": "bơi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let given = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(given.len() <= 128 && !given.starts_with("xxx"), "{given}");
    let added: Value = response.json().await.unwrap();
    let fact_path = format!("/v1/facts/{}/history", added["fact_id"].as_str().unwrap());
    let (_, added_history) = get(&app, &fact_path, TEST_API_SECRET).await;
    assert_eq!(
        added_history["versions"][0]["correlation_id"],
        given.as_str()
    );
    assert_eq!(
        versions[3]["reason"],
        json!({"type": "requested", "note": "asked by parent"})
    );

    let before = event_count(&app).await;
    let (status, body, _) = call(&app, Method::DELETE, &location, TEST_API_SECRET, None).await;
    assert_eq!((status, &body["type"]), (409, &json!("/problems/conflict")));
    let fix = Some(json!({"value": "cơm"}));
    let (status, _, _) = call(&app, Method::PATCH, &location, TEST_API_SECRET, fix).await;
    assert_eq!(status, 409, "a retracted fact cannot change");
    assert_eq!(event_count(&app).await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fact_of_the_opposite_sentiment_is_retracted_and_reported() {
    let app = TestApp::spawn().await;
    let (status, liked) = add(&app, "kid", json!({"key": "likes.food", "value": "pizza"})).await;
    assert_eq!(status, 201);
    let (status, disliked) = add(
        &app,
        "kid",
        json!({"key": "dislikes.food", "value": "Pizza"}),
    )
    .await;
    assert_eq!(status, 201, "{disliked}");
    assert_eq!(disliked["retracted"], json!([liked["fact_id"]]));
    let path = format!("/v1/users/kid/facts?min_position={}", disliked["position"]);
    let facts = get(&app, &path, TEST_API_SECRET).await.1["facts"].clone();
    assert_eq!(facts.as_array().unwrap().len(), 1);
    assert_eq!(facts[0]["key"], "dislikes.food");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reads_its_own_writes_at_the_returned_position() {
    let app = TestApp::spawn().await;
    for (index, pet) in ["Max", "Mochi", "Bean", "Luna", "Kem"].iter().enumerate() {
        let (status, added) = add(&app, "kid", json!({"key": "pet.dog", "value": pet})).await;
        assert_eq!(status, 201);
        let path = format!("/v1/users/kid/facts?min_position={}", added["position"]);
        let (status, body) = get(&app, &path, TEST_API_SECRET).await;
        assert_eq!(status, 200);
        assert_eq!(body["facts"].as_array().unwrap().len(), index + 1);
        let path = format!(
            "/v1/facts/{}?min_position={}",
            added["fact_id"].as_str().unwrap(),
            added["position"]
        );
        assert_eq!(get(&app, &path, TEST_API_SECRET).await.1["value"], *pet);
    }

    let (status, body) = get(
        &app,
        "/v1/users/kid/facts?min_position=999999999",
        TEST_API_SECRET,
    )
    .await;
    assert_eq!(status, 400, "a position no command answered with: {body}");
    assert!(
        body["detail"].as_str().unwrap().contains("999999999"),
        "{body}"
    );

    // A position handed out but never applied (as after a rolled-back command): the query
    // waits briefly, then says so.
    let pool = app.database.pool(1).await;
    let stuck: i64 =
        sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('events', 'global_position'))")
            .fetch_one(&pool)
            .await
            .unwrap();
    let started = Instant::now();
    let (status, body, content_type) = call(
        &app,
        Method::GET,
        &format!("/v1/users/kid/facts?min_position={stuck}"),
        TEST_API_SECRET,
        None,
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (503, "application/problem+json")
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&stuck.to_string()),
        "{body}"
    );
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(10)).contains(&waited),
        "a position the read model never reaches is waited for briefly: {waited:?}"
    );
    let (status, _) = get(&app, "/v1/users/kid/facts?min_position=-1", TEST_API_SECRET).await;
    assert_eq!(status, 400);
    let (status, _) = get(
        &app,
        "/v1/users/kid/facts?min_position=soon",
        TEST_API_SECRET,
    )
    .await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_problem_documents_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, added) = add(&app, "kid", json!({"key": "name", "value": "An"})).await;
    let fact = format!("/v1/facts/{}", added["fact_id"].as_str().unwrap());
    let unknown = format!("/v1/facts/{}", uuid::Uuid::now_v7());
    let before = event_count(&app).await;

    let secret = TEST_API_SECRET;
    let fix = || Some(json!({"value": "Bình"}));
    let cases: Vec<(Method, String, Option<Value>, u16)> = vec![
        (
            Method::POST,
            "/v1/users/b%C3%A9%20An/facts".into(),
            Some(json!({"key": "name", "value": "An"})),
            400,
        ),
        (Method::GET, "/v1/facts/not-a-uuid".into(), None, 400),
        (Method::PATCH, "/v1/facts/not-a-uuid".into(), fix(), 400),
        (Method::DELETE, "/v1/facts/not-a-uuid".into(), None, 400),
        (Method::DELETE, "/v1/users/a%2Fb".into(), None, 400),
        (Method::GET, unknown.clone(), None, 404),
        (Method::PATCH, unknown.clone(), fix(), 404),
        (Method::DELETE, unknown.clone(), None, 404),
        (Method::DELETE, "/v1/users/nobody".into(), None, 404),
        (
            Method::POST,
            "/v1/users/kid/facts".into(),
            Some(json!({"key": "Favorite Food", "value": "x"})),
            422,
        ),
        (
            Method::POST,
            "/v1/users/kid/facts".into(),
            Some(json!({"key": "name"})),
            422,
        ),
        (
            Method::POST,
            "/v1/users/kid/facts".into(),
            Some(json!({"key": "name", "value": "  "})),
            422,
        ),
        (
            Method::POST,
            "/v1/users/kid/facts".into(),
            Some(json!({"key": "name", "value": "Bình", "confidence": 1.5})),
            422,
        ),
        (
            Method::POST,
            "/v1/users/kid/facts".into(),
            Some(json!({"key": "name", "value": "Bình", "language": "x"})),
            422,
        ),
        (
            Method::POST,
            "/v1/users/kid/facts".into(),
            Some(json!({"key": "name", "value": "Bình", "colour": "blue"})),
            422,
        ),
        (
            Method::PATCH,
            fact.clone(),
            Some(json!({"value": "x".repeat(201)})),
            422,
        ),
        (
            Method::PATCH,
            fact.clone(),
            Some(json!({"key": "nickname", "value": "Bình"})),
            422,
        ),
        (
            Method::DELETE,
            format!("{fact}?reason={}", "x".repeat(501)),
            None,
            422,
        ),
        (Method::DELETE, format!("{fact}?why=because"), None, 400),
        (Method::GET, format!("{fact}?min_position=-5"), None, 400),
    ];
    for (method, path, body, expected) in cases {
        let label = format!("{method} {path} {body:?}");
        let (status, problem, content_type) = call(&app, method, &path, secret, body).await;
        assert_eq!(status, expected, "{label}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{label}");
        assert_eq!(problem["status"], expected, "{label}");
    }

    for path in ["/v1/users/kid/facts".to_owned(), fact.clone()] {
        let method = if path == fact {
            Method::PATCH
        } else {
            Method::POST
        };
        let malformed = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(secret)
            .header("content-type", "application/json")
            .body(r#"{"value": "Bình","#)
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400, "{method} {path}");
        let text = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(secret)
            .header("content-type", "text/plain")
            .body(r#"{"value": "Bình"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(text.status(), 415, "{method} {path}");
    }
    let (status, _, _) = call(&app, Method::DELETE, &fact, "wrong-secret", None).await;
    assert_eq!(status, 401);

    assert_eq!(
        event_count(&app).await,
        before,
        "no refused request wrote an event"
    );
    let read = format!("{fact}?min_position={}", added["position"]);
    let (_, still) = get(&app, &read, secret).await;
    assert_eq!(
        (&still["value"], &still["version"]),
        (&json!("An"), &json!(1))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_can_neither_read_nor_change_a_fact() {
    let app = TestApp::spawn_with(two_tenants()).await;
    let (_, added) = add(&app, "be-an", json!({"key": "pet.cat", "value": "Mochi"})).await;
    let fact = format!("/v1/facts/{}", added["fact_id"].as_str().unwrap());
    let min = added["position"].clone();
    let before = event_count(&app).await;

    let fix = Some(json!({"value": "Tom"}));
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{fact}?min_position={min}"), None),
        (Method::GET, format!("{fact}/history"), None),
        (Method::PATCH, fact.clone(), fix),
        (Method::DELETE, format!("{fact}?reason=mine"), None),
        (Method::DELETE, "/v1/users/be-an".into(), None),
    ];
    for (method, path, body) in cases {
        let label = format!("{method} {path}");
        let (status, problem, content_type) = call(&app, method, &path, OTHER_SECRET, body).await;
        assert_eq!(status, 404, "{label}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{label}");
    }
    let path = format!("/v1/users/be-an/facts?min_position={min}");
    assert_eq!(get(&app, &path, OTHER_SECRET).await.1["facts"], json!([]));
    // User ids live in each tenant's own namespace: the other tenant's "be-an" is a user with
    // no facts, so its search and favourites are empty (a 404 only where another tenant had
    // the id would itself reveal that it exists).
    assert_eq!(
        search(&app, "be-an", "Mochi").await.len(),
        1,
        "the owner finds it"
    );
    let body = Some(json!({"user_id": "be-an", "query": "Mochi"}));
    let (status, found, _) = call(&app, Method::POST, "/v1/search", OTHER_SECRET, body).await;
    assert_eq!((status, &found["results"]), (200, &json!([])), "{found}");
    let (status, favourites) = get(&app, "/v1/users/be-an/favorites", OTHER_SECRET).await;
    assert_eq!(status, 200);
    assert!(!favourites.to_string().contains("Mochi"), "{favourites}");
    assert_eq!(event_count(&app).await, before, "nothing was written");

    let (status, fact_body) =
        get(&app, &format!("{fact}?min_position={min}"), TEST_API_SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&fact_body["value"], &fact_body["version"]),
        (&json!("Mochi"), &json!(1))
    );
    let (_, history) = get(&app, &format!("{fact}/history"), TEST_API_SECRET).await;
    assert_eq!(history["versions"].as_array().unwrap().len(), 1);
    app.stop().await;
}

/// Polls `check` until it holds, for at most ten seconds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn search(app: &TestApp, user: &str, query: &str) -> Vec<Value> {
    let body = Some(json!({"user_id": user, "query": query, "types": ["fact"]}));
    let (status, answer, _) = call(app, Method::POST, "/v1/search", TEST_API_SECRET, body).await;
    assert_eq!(status, 200, "{answer}");
    answer["results"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_a_user_empties_facts_favourites_and_search() {
    let app = TestApp::spawn_with(two_tenants()).await;
    let facts = [
        json!({"key": "favorite.color", "value": "blue", "text": "Her favourite colour is blue"}),
        json!({"key": "likes.food", "value": "pizza"}),
        json!({"key": "pet.dog", "value": "Max", "text": "She has a dog called Max"}),
    ];
    let mut dog = Value::Null;
    for fact in facts {
        let (status, added) = add(&app, "kid", fact).await;
        assert_eq!(status, 201, "{added}");
        dog = added;
    }
    let favorites = "/v1/users/kid/favorites";
    eventually("the summary shows the facts", async || {
        get(&app, favorites, TEST_API_SECRET).await.1["live_facts"] == 3
    })
    .await;
    eventually("search finds the dog", async || {
        search(&app, "kid", "what is the dog called")
            .await
            .iter()
            .any(|r| r["value"] == "Max")
    })
    .await;

    let (status, _, _) = call(&app, Method::DELETE, "/v1/users/kid", OTHER_SECRET, None).await;
    assert_eq!(status, 404, "another tenant has no user kid");
    let before_forget = chrono::Utc::now().to_rfc3339();
    let (status, forgotten, _) =
        call(&app, Method::DELETE, "/v1/users/kid", TEST_API_SECRET, None).await;
    assert_eq!(status, 202, "{forgotten}");
    assert_eq!(
        (&forgotten["user_id"], &forgotten["facts_retracted"]),
        (&json!("kid"), &json!(3))
    );
    let path = format!("/v1/users/kid/facts?min_position={}", forgotten["position"]);
    assert_eq!(
        get(&app, &path, TEST_API_SECRET).await.1["facts"],
        json!([])
    );
    let dog_path = format!("/v1/facts/{}", dog["fact_id"].as_str().unwrap());
    assert_eq!(get(&app, &dog_path, TEST_API_SECRET).await.0, 404);

    eventually("the summary is empty", async || {
        let (_, summary) = get(&app, favorites, TEST_API_SECRET).await;
        summary["live_facts"] == 0
            && summary["favorites"] == json!({})
            && summary["likes"] == json!({})
    })
    .await;
    eventually("search finds nothing", async || {
        search(&app, "kid", "what is the dog called")
            .await
            .is_empty()
            && search(&app, "kid", "favourite colour").await.is_empty()
    })
    .await;

    let (status, _) = get(&app, &format!("{dog_path}/history"), TEST_API_SECRET).await;
    assert_eq!(status, 404, "a forgotten user's history is not served");
    let before = urlencode(&before_forget);
    let (status, as_of) = get(
        &app,
        &format!("/v1/users/kid/facts?as_of={before}"),
        TEST_API_SECRET,
    )
    .await;
    assert_eq!(status, 200, "{as_of}");
    assert_eq!(as_of["facts"], json!([]), "nor their past facts");

    let (status, again) = add(&app, "kid", json!({"key": "likes.food", "value": "phở"})).await;
    assert_eq!(status, 201, "a forgotten user can start again: {again}");
    let again_path = format!("/v1/facts/{}/history", again["fact_id"].as_str().unwrap());
    let (status, history) = get(&app, &again_path, TEST_API_SECRET).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["versions"].as_array().unwrap().len(), 1);
    app.stop().await;
}

/// Enough percent-encoding for an RFC 3339 time in a query string.
fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
