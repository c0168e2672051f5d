//! What the Inspector (issue 21) reads beyond the existing API, against the real server in both
//! modes: the tenant's users page by page and by prefix, a user's jobs, projection status, and
//! the page itself with its security headers. The page's behaviour in a browser is checked by
//! `scripts/ui-check.sh` (Playwright driving Chromium).

use pika_tests::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

fn ids(page: &Value) -> Vec<&str> {
    page["users"]
        .as_array()
        .unwrap_or_else(|| panic!("users in {page}"))
        .iter()
        .map(|user| user["user_id"].as_str().expect("an id"))
        .collect()
}

async fn users_are_listed_by_page_and_prefix(app: &TestApp) {
    for user in ["ann", "anna", "bob"] {
        let job = app
            .submit_message(user, "I have a dog called Max and I am 8 years old.")
            .await;
        assert_eq!(app.job(&job, 30).await["status"], "completed");
    }
    // A user with turns only: nothing extractable, still listed, with no fact change.
    let job = app.submit_message("cat_person", "Hello there.").await;
    assert_eq!(app.job(&job, 30).await["status"], "completed");

    let (status, first) = app.call(Method::GET, "/v1/users?limit=2", None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), ["ann", "anna"]);
    assert_eq!(first["next_cursor"], "anna");
    assert!(
        first["users"][0]["live_facts"].as_i64().unwrap() >= 1,
        "{first}"
    );
    assert!(first["users"][0]["last_changed_at"].is_string(), "{first}");

    let (_, second) = app
        .call(Method::GET, "/v1/users?limit=2&after=anna", None)
        .await;
    assert_eq!(ids(&second), ["bob", "cat_person"]);
    assert_eq!(second["users"][1]["live_facts"], 0, "{second}");
    assert_eq!(
        second["users"][1]["last_changed_at"],
        Value::Null,
        "{second}"
    );

    let (_, last) = app
        .call(Method::GET, "/v1/users?limit=2&after=cat_person", None)
        .await;
    assert_eq!(last, json!({"users": [], "next_cursor": null}));

    let (_, by_prefix) = app.call(Method::GET, "/v1/users?prefix=ann", None).await;
    assert_eq!(ids(&by_prefix), ["ann", "anna"]);
    assert_eq!(by_prefix["next_cursor"], Value::Null);
    // `_` is a character, not a LIKE wildcard.
    let (_, literal) = app.call(Method::GET, "/v1/users?prefix=cat_", None).await;
    assert_eq!(ids(&literal), ["cat_person"]);
    let (_, none) = app.call(Method::GET, "/v1/users?prefix=a_", None).await;
    assert_eq!(ids(&none), Vec::<&str>::new());

    for bad in ["limit=0", "limit=201", "limit=x", "colour=red"] {
        let (status, problem) = app
            .call(Method::GET, &format!("/v1/users?{bad}"), None)
            .await;
        assert!(status == 400 || status == 422, "{bad}: {status} {problem}");
        assert!(problem["title"].is_string(), "{bad}: {problem}");
    }
    let long = "x".repeat(129);
    let (status, _) = app
        .call(Method::GET, &format!("/v1/users?prefix={long}"), None)
        .await;
    assert_eq!(status, 422);

    // Another tenant sees none of them.
    let (status, _) = app
        .call_as("not-a-key-at-all-0000", Method::GET, "/v1/users", None)
        .await;
    assert_eq!(status, 401);

    // A forgotten user leaves the list.
    let (status, forgotten) = app.call(Method::DELETE, "/v1/users/anna", None).await;
    assert_eq!(status, 202, "{forgotten}");
    let position = forgotten["position"].as_i64().expect("a position");
    let (status, after_forget) = app
        .call(
            Method::GET,
            &format!("/v1/users?prefix=ann&min_position={position}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{after_forget}");
    assert_eq!(ids(&after_forget), ["ann"]);
    let (status, _) = app
        .call(Method::GET, "/v1/users?min_position=999999999", None)
        .await;
    assert_eq!(status, 400, "a position no command answered with");
}

async fn a_users_jobs_are_listed_newest_first(app: &TestApp) {
    let first = app
        .submit_message("jobs_kid", "I have a dog called Max.")
        .await;
    app.job(&first, 30).await;
    let second = app
        .submit_message("jobs_kid", "My favourite colour is crimson")
        .await;
    app.job(&second, 30).await;
    let (status, list) = app.call(Method::GET, "/v1/users/jobs_kid/jobs", None).await;
    assert_eq!(status, 200, "{list}");
    let jobs = list["jobs"].as_array().expect("jobs");
    let listed: Vec<&str> = jobs.iter().map(|j| j["job_id"].as_str().unwrap()).collect();
    assert_eq!(listed, [second.as_str(), first.as_str()]);
    assert_eq!(jobs[0]["status"], "completed");
    assert_eq!(jobs[0]["attempts"], 1, "{list}");
    assert!(jobs[0]["result"]["added"].as_i64().unwrap() >= 1, "{list}");

    let (_, one) = app
        .call(Method::GET, "/v1/users/jobs_kid/jobs?limit=1", None)
        .await;
    assert_eq!(one["jobs"].as_array().unwrap().len(), 1);
    let (_, nobody) = app.call(Method::GET, "/v1/users/nobody/jobs", None).await;
    assert_eq!(nobody["jobs"], json!([]));
    let (status, _) = app.call(Method::GET, "/v1/users/bad%20id/jobs", None).await;
    assert_eq!(status, 400);
}

async fn every_projection_reports_its_lag(app: &TestApp) {
    let (status, body) = app.call(Method::GET, "/v1/projections", None).await;
    assert_eq!(status, 200, "{body}");
    let rows = body["projections"].as_array().expect("projections");
    let names: Vec<&str> = rows
        .iter()
        .map(|row| row["projection"].as_str().unwrap())
        .collect();
    for name in ["facts", "extraction_jobs", "episodes"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let facts = rows
        .iter()
        .find(|row| row["projection"] == "facts")
        .unwrap();
    assert!(facts["events_applied"].as_i64().unwrap() > 0, "{facts}");
    assert!(facts["lag_events"].as_i64().unwrap() >= 0, "{facts}");
}

async fn the_page_is_served_with_a_strict_policy(app: &TestApp) {
    let client = reqwest::Client::new();
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/inspector.js", "text/javascript"),
        ("/ui/inspector.css", "text/css"),
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let missing = client.get(app.url("/ui/secrets.txt")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
}

async fn inspector_reads(app: TestApp) {
    users_are_listed_by_page_and_prefix(&app).await;
    a_users_jobs_are_listed_newest_first(&app).await;
    every_projection_reports_its_lag(&app).await;
    the_page_is_served_with_a_strict_policy(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn the_inspector_reads_scaled_out() {
    inspector_reads(TestApp::spawn().await).await;
}

#[tokio::test]
async fn the_inspector_reads_embedded() {
    inspector_reads(TestApp::spawn_embedded().await).await;
}
