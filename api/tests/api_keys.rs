//! API keys as an operator manages them: `pika-memory keys` against the database of a running
//! server, which must follow every change within a bounded time.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pika_tests::{TEST_API_SECRET, TEST_TENANT, TestApp, TestDatabase};
use serde_json::{Value, json};

/// The longest a running server may take to follow a change of the table: its reread period
/// (2 s) plus room for a slow machine.
const BOUND: Duration = Duration::from_secs(5);

fn pika_memory() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pika-memory"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("PIKA_")) {
        command.env_remove(name);
    }
    command.env("PIKA_LOG_FORMAT", "text");
    command.env("PIKA_MASTER_KEY", pika_tests::TEST_MASTER_KEY);
    command
}

/// Runs `pika-memory keys <args>` against `database_url` off the async threads, so the server
/// under test keeps answering meanwhile.
async fn keys(database_url: &str, args: &[&str]) -> Output {
    let mut command = pika_memory();
    command
        .arg("keys")
        .args(args)
        .env("PIKA_DATABASE_URL", database_url);
    tokio::task::spawn_blocking(move || command.output().expect("run pika-memory"))
        .await
        .expect("the command's thread")
}

fn stdout(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "failed: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// `name:   value` from the output of `keys create`.
fn field(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
}

async fn create_key(database_url: &str, tenant: &str, label: Option<&str>) -> (String, String) {
    let mut args = vec!["create", "--tenant", tenant];
    if let Some(label) = label {
        args.extend(["--label", label]);
    }
    let output = keys(database_url, &args).await;
    let text = stdout(&output);
    assert_eq!(field(&text, "tenant"), tenant);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("only this once"), "{stderr}");
    (field(&text, "id"), field(&text, "secret"))
}

/// Status and body of listing a user's facts with `secret`, or with no key at all.
async fn list_facts(app: &TestApp, secret: Option<&str>) -> (u16, Value, String) {
    let mut request = app.client.get(app.url("/v1/users/kid-1/facts"));
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        content_type,
    )
}

/// Polls until listing facts with `secret` answers `status`; how long that took.
async fn answers_within(app: &TestApp, secret: Option<&str>, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let (got, body, _) = list_facts(app, secret).await;
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < BOUND,
            "still {got} {body} after {BOUND:?}, expected {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_created_listed_and_revoked_with_the_cli_reach_a_running_server() {
    let app = TestApp::spawn().await;
    let url = app.database.url.clone();

    let (id, secret) = create_key(&url, "acme", Some("ci runner")).await;
    let hex = secret.strip_prefix("pika_").expect("a pika_ secret");
    assert_eq!(hex::decode(hex).expect("hex").len(), 32);
    let accepted_after = answers_within(&app, Some(&secret), 200).await;
    let (_, body, _) = list_facts(&app, Some(&secret)).await;
    assert_eq!(body["facts"], json!([]), "acme sees none of test's facts");

    let listed = stdout(&keys(&url, &["list"]).await);
    let acme = listed
        .lines()
        .find(|line| line.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} missing from:\n{listed}"));
    let words: Vec<&str> = acme.split_whitespace().collect();
    assert_eq!(words[1], "acme", "{acme}");
    assert_eq!(words[2], &secret[..13], "the prefix recognises it: {acme}");
    assert_eq!(words[4], "-", "not revoked: {acme}");
    assert!(acme.ends_with("ci runner"), "{acme}");
    assert!(
        listed
            .lines()
            .any(|line| line.contains(TEST_TENANT) && line.ends_with("PIKA_API_KEYS")),
        "the configured key is listed:\n{listed}"
    );
    assert!(!listed.contains(hex) && !listed.contains(TEST_API_SECRET));
    let only_acme = stdout(&keys(&url, &["list", "--tenant", "acme"]).await);
    assert_eq!(
        only_acme.lines().count(),
        2,
        "header and one key:\n{only_acme}"
    );

    let pool = app.database.pool(1).await;
    let leaks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys
          WHERE row_to_json(api_keys)::text LIKE '%' || $1 || '%'
             OR row_to_json(api_keys)::text LIKE '%' || $2 || '%'",
    )
    .bind(hex)
    .bind(TEST_API_SECRET)
    .fetch_one(&pool)
    .await
    .expect("count rows");
    assert_eq!(leaks, 0, "no secret is stored");

    let revoked = stdout(&keys(&url, &["revoke", &id]).await);
    assert!(
        revoked.starts_with(&format!("revoked key {id}")),
        "{revoked}"
    );
    let refused_after = answers_within(&app, Some(&secret), 401).await;
    let (_, body, content_type) = list_facts(&app, Some(&secret)).await;
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["type"], "/problems/unauthorized");
    let search = app
        .client
        .post(app.url("/v1/search"))
        .bearer_auth(&secret)
        .json(&json!({"user_id": "kid-1", "query": "dog"}))
        .send()
        .await
        .expect("search request");
    assert_eq!(search.status().as_u16(), 401, "search refuses it too");
    assert_eq!(list_facts(&app, Some(TEST_API_SECRET)).await.0, 200);
    println!(
        "a new key was accepted after {accepted_after:?}, a revoked one refused after {refused_after:?}"
    );

    let again = stdout(&keys(&url, &["revoke", &id]).await);
    assert!(again.contains("already revoked"), "{again}");
    let listed = stdout(&keys(&url, &["list", "--tenant", "acme"]).await);
    assert_ne!(
        listed
            .lines()
            .nth(1)
            .expect("a key line")
            .split_whitespace()
            .nth(4),
        Some("-")
    );
    let unknown = keys(&url, &["revoke", &uuid::Uuid::now_v7().to_string()]).await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key with id"));
    let bad_label = keys(&url, &["create", "--tenant", "acme", "--label", " "]).await;
    assert!(String::from_utf8_lossy(&bad_label.stderr).contains("--label"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_keys_are_stored_once_and_stay_revoked_across_restarts() {
    let app = TestApp::spawn().await;
    let url = app.database.url.clone();
    let second = app.spawn_beside().await;
    let pool = app.database.pool(1).await;
    let rows: Vec<(String, uuid::Uuid)> = sqlx::query_as("SELECT tenant, id FROM api_keys")
        .fetch_all(&pool)
        .await
        .expect("read api_keys");
    assert_eq!(
        rows.len(),
        1,
        "starting twice stores the key once: {rows:?}"
    );
    second.stop().await;

    let (_, acme_secret) = create_key(&url, "acme", None).await;
    let seed_id = rows[0].1.to_string();
    stdout(&keys(&url, &["revoke", &seed_id]).await);
    answers_within(&app, Some(TEST_API_SECRET), 401).await;

    let restarted = app.spawn_beside().await;
    assert_eq!(
        list_facts(&restarted, Some(TEST_API_SECRET)).await.0,
        401,
        "PIKA_API_KEYS does not bring a revoked key back"
    );
    assert_eq!(list_facts(&restarted, Some(&acme_secret)).await.0, 200);
    restarted.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn the_server_refuses_to_start_with_no_key_at_all() {
    let database = TestDatabase::empty().await;
    let unmigrated = keys(&database.url, &["list"]).await;
    assert!(!unmigrated.status.success());
    let stderr = String::from_utf8_lossy(&unmigrated.stderr);
    assert!(stderr.contains("pika-memory migrate"), "{stderr}");

    let output = tokio::task::spawn_blocking({
        let url = database.url.clone();
        move || {
            pika_memory()
                .arg("serve")
                .env("PIKA_HTTP_ADDR", "127.0.0.1:0")
                .env("PIKA_DATABASE_URL", url)
                .output()
                .expect("run serve")
        }
    })
    .await
    .expect("the command's thread");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for hint in [
        "no API key configured",
        "PIKA_API_KEYS",
        "keys create",
        "PIKA_ALLOW_UNAUTHENTICATED=true",
    ] {
        assert!(stderr.contains(hint), "{hint} missing from:\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_server_needs_keys_once_one_is_created() {
    let app = TestApp::spawn_with(|settings| {
        settings.remove("PIKA_API_KEYS");
        settings.insert("PIKA_ALLOW_UNAUTHENTICATED".into(), "true".into());
    })
    .await;
    assert_eq!(list_facts(&app, None).await.0, 200, "open: no key needed");

    let (_, secret) = create_key(&app.database.url, "acme", None).await;
    answers_within(&app, None, 401).await;
    assert_eq!(list_facts(&app, Some(&secret)).await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_secret_cannot_serve_two_tenants() {
    let app = TestApp::spawn().await;
    let mut settings = pika_tests::test_settings(&app.database, &app.prefix);
    settings.insert("PIKA_API_KEYS".into(), format!("other:{TEST_API_SECRET}"));
    let error = pika_api::Application::build(pika_tests::config_from(&settings))
        .await
        .expect_err("the secret is test's");
    let message = format!("{error:#}");
    assert!(
        message.contains("PIKA_API_KEYS") && message.contains("\"test\""),
        "{message}"
    );
    app.stop().await;
}
