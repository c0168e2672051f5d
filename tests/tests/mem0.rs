//! Mem0's platform API (issue 20), against the real server in both modes: what the `mem0ai`
//! client calls, with its `Token` scheme and trailing slashes. The client itself is driven by
//! `scripts/mem0-compat.sh`; these pin the server's side of the contract.

use pika_tests::{TEST_API_SECRET, TestApp};
use serde_json::{Value, json};

/// A request as Mem0's client sends it: `Authorization: Token <key>`.
async fn mem0(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, app.url(path))
        .header("Authorization", format!("Token {TEST_API_SECRET}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the request is answered");
    let status = response.status();
    let mut answer: Value = response.json().await.expect("a JSON body");
    if let Value::Object(fields) = &mut answer {
        fields.insert("_status".into(), json!(status.as_u16()));
    }
    answer
}

fn texts(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("results in {answer}"))
        .iter()
        .map(|m| m["memory"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_mem0_client_adds_finds_changes_and_forgets(app: TestApp) {
    use reqwest::Method;
    assert_eq!(
        mem0(&app, Method::GET, "/v1/ping/", None).await["status"],
        "ok"
    );
    let added = mem0(
        &app,
        Method::POST,
        "/v3/memories/add/",
        Some(json!({"user_id": "kid", "version": "v2", "messages": [
            {"role": "user", "content": "I have a dog called Max and I'm 8 years old."}]})),
    )
    .await;
    assert_eq!(added["_status"], 200, "{added}");
    let events: Vec<&str> = added["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["event"].as_str().expect("an event"))
        .collect();
    assert_eq!(events, ["ADD", "ADD"], "{added}");

    // The add waited for its job: a search right after finds what it produced.
    let found = mem0(
        &app,
        Method::POST,
        "/v3/memories/search/",
        Some(json!({"query": "what is my dog called", "filters": {"AND": [{"user_id": "kid"}]}})),
    )
    .await;
    assert!(texts(&found)[0].contains("Max"), "{found}");
    let dog = found["results"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let page = mem0(
        &app,
        Method::POST,
        "/v3/memories/?page=2&page_size=1",
        Some(json!({"filters": {"user_id": "kid"}})),
    )
    .await;
    assert_eq!((page["count"].clone(), texts(&page).len()), (json!(2), 1));
    assert!(
        page["previous"].is_string() && page["next"].is_null(),
        "{page}"
    );

    let refused = mem0(
        &app,
        Method::POST,
        "/v3/memories/search/",
        Some(json!({"query": "dog", "filters": {"agent_id": "bot"}})),
    )
    .await;
    assert_eq!(refused["_status"], 400);
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("only user_id")),
        "{refused}"
    );

    let path = format!("/v1/memories/{dog}/");
    let updated = mem0(
        &app,
        Method::PUT,
        &path,
        Some(json!({"text": "Has a dog called Rex"})),
    )
    .await;
    assert_eq!(updated["memory"], "Has a dog called Rex", "{updated}");
    let history = mem0(&app, Method::GET, &format!("{path}history/"), None).await;
    let history = history.as_array().expect("a list of versions");
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            history[1]["event"].clone(),
            history[1]["old_memory"].clone()
        ),
        (json!("UPDATE"), history[0]["new_memory"].clone())
    );

    assert_eq!(
        mem0(&app, Method::DELETE, &path, None).await["_status"],
        200
    );
    assert_eq!(mem0(&app, Method::GET, &path, None).await["_status"], 404);

    // infer: false keeps the turns without facts; the user is listed, then forgotten.
    let raw = mem0(
        &app,
        Method::POST,
        "/v1/memories/",
        Some(
            json!({"user_id": "note-taker", "infer": false, "messages": [
            {"role": "user", "content": "My favourite colour is green."}]}),
        ),
    )
    .await;
    assert_eq!(raw["results"], json!([]), "{raw}");
    let users = mem0(&app, Method::GET, "/v1/entities/", None).await;
    let names: Vec<&str> = users["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|u| u["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["kid", "note-taker"], "{users}");
    assert_eq!(users["results"][1]["total_memories"], 0);
    let forgotten = mem0(&app, Method::DELETE, "/v2/entities/user/note-taker/", None).await;
    assert_eq!(forgotten["_status"], 200, "{forgotten}");

    let cleared = mem0(&app, Method::DELETE, "/v1/memories/?user_id=kid", None).await;
    assert_eq!(cleared["_status"], 200, "{cleared}");
    let users = mem0(&app, Method::GET, "/v1/entities/", None).await;
    assert_eq!(users["results"], json!([]), "{users}");
    app.stop().await;
}

#[tokio::test]
async fn a_mem0_client_works_scaled_out() {
    a_mem0_client_adds_finds_changes_and_forgets(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_mem0_client_works_embedded() {
    a_mem0_client_adds_finds_changes_and_forgets(TestApp::spawn_embedded().await).await;
}
