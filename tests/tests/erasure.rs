//! Forget means gone: after a user is forgotten, none of their words are left anywhere the
//! service stores data — a `pg_dump` of the database, every Redis value, the RabbitMQ queues,
//! and in the embedded mode the SQLite file with its write-ahead log — while another user's
//! data is untouched.

use std::time::Duration;

use lapin::options::BasicGetOptions;
use lapin::{Connection, ConnectionProperties};
use pika_api::Roles;
use pika_tests::{TestApp, amqp_url, redis_url};
use pika_worker::amqp::QueueNames;
use serde_json::{Value, json};

/// Words no extractor, model or fixture would produce by chance.
const FORGOTTEN_WORDS: [&str; 3] = ["Zorblatt", "quokkaberry", "Vexhollow"];
const KEPT_WORDS: [&str; 2] = ["Plinkerton", "mangosteenish"];

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(method, path, body).await
}

async fn remember(app: &TestApp, user: &str, messages: &[&str]) {
    let messages: Vec<Value> = messages
        .iter()
        .map(|content| json!({"role": "user", "content": content}))
        .collect();
    let (status, accepted) = send(
        app,
        reqwest::Method::POST,
        "/v1/extractions",
        Some(json!({"user_id": user, "messages": messages, "metadata": {"note": messages[0]}})),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let job = app.job(accepted["job_id"].as_str().unwrap(), 25).await;
    assert_eq!(job["status"], "completed", "{job}");
}

/// Puts words of both users in every store: facts, turns, a note on a fact, cached answers.
async fn fill(app: &TestApp) {
    remember(
        app,
        "kid-forget",
        &[
            "My dog is called Zorblatt.",
            "I love quokkaberry pie so much.",
        ],
    )
    .await;
    remember(
        app,
        "kid-kept",
        &[
            "My dog is called Plinkerton.",
            "I love mangosteenish juice.",
        ],
    )
    .await;
    remember_later(app).await;
    for user in ["kid-forget", "kid-kept"] {
        let body = json!({"user_id": user, "query": "what is my dog called", "limit": 5});
        let (status, found) = send(app, reqwest::Method::POST, "/v1/search", Some(body)).await;
        assert_eq!(status, 200, "{found}");
    }
}

async fn forget(app: &TestApp) {
    let (status, forgotten) =
        send(app, reqwest::Method::DELETE, "/v1/users/kid-forget", None).await;
    assert_eq!(status, 202, "{forgotten}");
}

fn found_in(haystack: &[u8], words: &[&str]) -> Vec<String> {
    words
        .iter()
        .filter(|word| {
            let needle = word.as_bytes();
            haystack.windows(needle.len()).any(|w| w == needle)
        })
        .map(|word| (*word).to_owned())
        .collect()
}

fn pg_dump(database_url: &str) -> Vec<u8> {
    let output = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", database_url])
        .output()
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Every value under the test's Redis prefix, concatenated.
async fn redis_values(prefix: &str) -> Vec<u8> {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut values = Vec::new();
    for key in keys {
        let dumped: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        values.extend(key.into_bytes());
        values.extend(dumped.unwrap_or_default());
    }
    values
}

/// Every message waiting in the test's queues (looked at, then put back).
async fn queued_messages(prefix: &str) -> Vec<u8> {
    let names = QueueNames::new(prefix);
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for queue in [&names.work, &names.retry, &names.dead] {
        // Unacknowledged gets return to the queue when the channel closes.
        let channel = connection.create_channel().await.unwrap();
        while let Ok(Some(message)) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await
        {
            bodies.extend(message.delivery.data.clone());
        }
        channel.close(200, "looked".into()).await.ok();
    }
    connection.close(200, "done".into()).await.ok();
    bodies
}

/// Checks `everything` until the forgotten words are gone (the read models and caches follow
/// the forget within moments), then that the kept user's words are still there.
async fn until_gone(what: &str, everything: impl AsyncFn() -> Vec<u8>) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let bytes = everything().await;
        let left = found_in(&bytes, &FORGOTTEN_WORDS);
        if left.is_empty() {
            return bytes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} still holds {left:?} of the forgotten user"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_user_leaves_no_word_in_postgres_redis_or_rabbitmq() {
    let app = TestApp::spawn().await;
    fill(&app).await;
    let url = app.database.url.clone();
    assert_eq!(
        found_in(&pg_dump(&url), &FORGOTTEN_WORDS).len(),
        FORGOTTEN_WORDS.len(),
        "the read models hold the user's words before the forget (the dump can see them)"
    );
    let cached = redis_values(&app.prefix).await;
    assert!(
        !found_in(&cached, &["Zorblatt"]).is_empty(),
        "a cached answer holds the user's words before the forget"
    );

    forget(&app).await;

    let dump = until_gone("pg_dump", async || pg_dump(&url)).await;
    assert_eq!(
        found_in(&dump, &KEPT_WORDS).len(),
        KEPT_WORDS.len(),
        "the other user is intact"
    );
    until_gone("redis", async || redis_values(&app.prefix).await).await;
    until_gone("rabbitmq", async || queued_messages(&app.prefix).await).await;

    // A rebuild replays the whole log (in one pass for all read models, as `projections
    // rebuild` does): it opens the kept user's events and finds nothing readable of the
    // forgotten one.
    let pool = app.database.pool(2).await;
    let jobs_of_the_forgotten = async || -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT job_id::text, status FROM extraction_jobs
              WHERE user_id = 'kid-forget' ORDER BY job_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let jobs_before = jobs_of_the_forgotten().await;
    assert!(
        !jobs_before.is_empty(),
        "the forgotten user's jobs are tracked"
    );
    let rebuilder = pika_projections::postgres::PostgresRebuilder::new(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
    );
    pika_projections::ProjectionRebuilder::rebuild_all(
        &rebuilder,
        pika_projections::all_projections(),
        &mut |_| {},
    )
    .await
    .unwrap();
    let rebuilt = pg_dump(&url);
    assert!(
        found_in(&rebuilt, &FORGOTTEN_WORDS).is_empty(),
        "a rebuild brings nothing back"
    );
    assert_eq!(
        found_in(&rebuilt, &KEPT_WORDS).len(),
        KEPT_WORDS.len(),
        "and rebuilds the rest"
    );
    assert_eq!(
        jobs_of_the_forgotten().await,
        jobs_before,
        "job statuses read no personal data: the forgotten user's jobs are rebuilt from the \
         shredded events"
    );

    let (status, facts) = send(&app, reqwest::Method::GET, "/v1/users/kid-kept/facts", None).await;
    assert_eq!(status, 200);
    assert!(facts.to_string().contains("Plinkerton"), "{facts}");
    let (status, export) = send(
        &app,
        reqwest::Method::GET,
        "/v1/users/kid-forget/export",
        None,
    )
    .await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(
        (export["facts"].clone(), export["conversations"].clone()),
        (json!([]), json!([])),
        "{export}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_user_leaves_no_word_in_the_embedded_file_or_its_log() {
    let app = TestApp::spawn_embedded().await;
    fill(&app).await;
    let dir = app.data_dir.as_ref().unwrap().path().to_owned();
    let files = move || {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            let path = dir.join(format!("pika-memory.sqlite{suffix}"));
            bytes.extend(std::fs::read(path).unwrap_or_default());
        }
        bytes
    };
    assert!(
        !found_in(&files(), &FORGOTTEN_WORDS).is_empty(),
        "the file holds the user's words before the forget (the check can see them)"
    );

    forget(&app).await;

    let left = until_gone("the SQLite file and its WAL", async || files()).await;
    assert_eq!(
        found_in(&left, &KEPT_WORDS).len(),
        KEPT_WORDS.len(),
        "the other user is intact"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_holds_facts_histories_and_conversations_and_an_unknown_user_is_404() {
    let app = TestApp::spawn_embedded().await;
    remember(&app, "kid-export", &["My dog is called Zorblatt."]).await;
    let (status, export) = send(
        &app,
        reqwest::Method::GET,
        "/v1/users/kid-export/export",
        None,
    )
    .await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["facts"][0]["value"], "Zorblatt", "{export}");
    assert_eq!(
        export["fact_histories"][0]["versions"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{export}"
    );
    assert_eq!(
        export["conversations"][0]["content"], "My dog is called Zorblatt.",
        "{export}"
    );
    let (status, problem) = send(&app, reqwest::Method::GET, "/v1/users/nobody/export", None).await;
    assert_eq!(status, 404, "{problem}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queued_for_a_user_forgotten_before_it_ran_is_skipped_not_retried() {
    let no_worker = Roles {
        worker: false,
        ..Roles::SERVE
    };
    let app = TestApp::spawn_roles(no_worker).await;
    remember_later(&app).await;
    let job_id = app
        .submit_message("kid-forget", "My dog is called Zorblatt.")
        .await;
    forget(&app).await;
    let worker = app.spawn_role_beside(Roles::WORKER).await;
    let job = app.job(&job_id, 25).await;
    assert_eq!(job["status"], "skipped", "{job}");
    assert!(
        job["last_error"].as_str().unwrap().contains("erased"),
        "{job}"
    );
    let (_, facts) = send(
        &app,
        reqwest::Method::GET,
        "/v1/users/kid-forget/facts",
        None,
    )
    .await;
    assert_eq!(facts["facts"], json!([]), "{facts}");
    worker.stop().await;
    app.stop().await;
}

/// The user must exist before it can be forgotten: one fact added by hand.
async fn remember_later(app: &TestApp) {
    let add = json!({"key": "likes.place", "value": "Vexhollow", "text": "Likes Vexhollow park"});
    let (status, added) = send(
        app,
        reqwest::Method::POST,
        "/v1/users/kid-forget/facts",
        Some(add),
    )
    .await;
    assert_eq!(status, 201, "{added}");
}

mod sealing_an_old_log {
    use std::sync::Arc;

    use pika_commands::WriteModel;
    use pika_domain::personal_data::{SealedRecord, open_records};
    use pika_domain::{DataKeyStore, UserMemoryCommand};
    use pika_projections::ReadStore;
    use pika_projections::data_keys::{PersonalDataAdmin, PostgresDataKeys, seal_clear_log};
    use pika_projections::postgres::PostgresReadStore;
    use pika_tests::TestDatabase;
    use pika_tests::fixtures::{add, context, tenant, user};
    use sqlx::PgPool;

    use super::found_in;

    /// Every event as a log written before sealing existed holds it: opened, keys gone.
    async fn unseal_everything(pool: &PgPool, keys: &dyn DataKeyStore) {
        let rows: Vec<(i64, String, String, i64, String, serde_json::Value)> = sqlx::query_as(
            "SELECT global_position, aggregate_type, aggregate_id, sequence, event_type, payload
               FROM events",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let mut events: Vec<cqrs_es::persist::SerializedEvent> = rows
            .iter()
            .map(|(_, kind, id, sequence, event_type, payload)| {
                cqrs_es::persist::SerializedEvent::new(
                    id.clone(),
                    usize::try_from(*sequence).unwrap(),
                    kind.clone(),
                    event_type.clone(),
                    "1.0".into(),
                    payload.clone(),
                    serde_json::json!({}),
                )
            })
            .collect();
        open_records(keys, &mut events).await.unwrap();
        for ((position, ..), mut event) in rows.iter().zip(events) {
            let payload = event.parts().2.clone();
            sqlx::query("UPDATE events SET payload = $2 WHERE global_position = $1")
                .bind(position)
                .bind(payload)
                .execute(pool)
                .await
                .unwrap();
        }
        sqlx::query("DELETE FROM data_keys")
            .execute(pool)
            .await
            .unwrap();
    }

    fn dump(url: &str) -> Vec<u8> {
        super::pg_dump(url)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_old_clear_log_is_sealed_once_resumably_and_forgotten_users_become_unreadable() {
        let (database, pool) = TestDatabase::migrated().await;
        let keys = pika_tests::pg_data_keys(&pool);
        let model = WriteModel::postgres(pool.clone(), keys.clone(), Default::default());
        for (who, word) in [("kid-kept", "Plinkerton"), ("kid-gone", "Zorblatt")] {
            model
                .execute_user_memory(&tenant(), &user(who), add(word), &context())
                .await
                .unwrap();
        }
        unseal_everything(&pool, keys.as_ref()).await;
        model
            .execute_user_memory(
                &tenant(),
                &user("kid-gone"),
                UserMemoryCommand::ForgetUser,
                &context(),
            )
            .await
            .unwrap();
        let before = dump(&database.url);
        assert_eq!(
            found_in(&before, &["Plinkerton", "Zorblatt"]).len(),
            2,
            "clear before"
        );

        let admin = PostgresDataKeys::new(pool.clone(), pika_tests::master_key());
        // The forget's retraction was written sealed, with a key destroyed at once.
        assert_eq!(
            admin.count_clear_events().await.unwrap(),
            2,
            "the two old adds"
        );
        let mut reported = 0;
        let report = seal_clear_log(&admin, &mut |n| reported += n)
            .await
            .unwrap();
        assert_eq!((report.events, report.shredded, reported), (2, 1, 2));
        assert!(found_in(&dump(&database.url), &["Plinkerton", "Zorblatt"]).is_empty());

        let reads = PostgresReadStore::new(pool.clone(), keys.clone());
        let now = chrono::Utc::now();
        let kept = reads
            .facts_as_of(&tenant(), &user("kid-kept"), now)
            .await
            .unwrap();
        assert_eq!(
            kept[0].value, "Plinkerton",
            "the kept user's fact still opens"
        );
        let again = seal_clear_log(&admin, &mut |_| {}).await.unwrap();
        assert_eq!(again.events, 0, "a second run seals nothing");
        let recorded: (i64, bool) = sqlx::query_as(
            "SELECT events, finished_at IS NOT NULL FROM log_rewrites WHERE name = 'seal-personal-data'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(recorded, (2, true), "the rewrite is recorded once");
        let model = Arc::new(model);
        model
            .execute_user_memory(
                &tenant(),
                &user("kid-kept"),
                add("Quillfeather"),
                &context(),
            )
            .await
            .expect("the sealed memory loads and takes new facts");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotated_master_key_opens_everything_and_the_old_one_nothing() {
        let (_database, pool) = TestDatabase::migrated().await;
        let keys = pika_tests::pg_data_keys(&pool);
        let old = PostgresDataKeys::new(pool.clone(), pika_tests::master_key());
        old.check_master_key().await.unwrap();
        let model = WriteModel::postgres(pool.clone(), keys, Default::default());
        model
            .execute_user_memory(&tenant(), &user("kid"), add("Plinkerton"), &context())
            .await
            .unwrap();
        let new_key = Arc::new(pika_domain::MasterKey::generate());
        assert_eq!(old.rotate_master_key(&new_key).await.unwrap(), 1);

        assert!(
            old.check_master_key().await.is_err(),
            "the old key is refused at start"
        );
        let rotated = PostgresDataKeys::new(pool.clone(), new_key);
        rotated
            .check_master_key()
            .await
            .expect("the new key is accepted");
        let reads = PostgresReadStore::new(pool.clone(), Arc::new(rotated));
        let facts = reads
            .facts_as_of(&tenant(), &user("kid"), chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(facts[0].value, "Plinkerton");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_shreds_old_conversations_and_keeps_the_facts() {
    use pika_projections::data_keys::{PostgresDataKeys, Retention, apply_retention};
    let app = TestApp::spawn().await;
    remember(&app, "kid-old", &["My dog is called Zorblatt."]).await;
    let pool = app.database.pool(2).await;
    let admin = PostgresDataKeys::new(pool.clone(), pika_tests::master_key());
    let other_tenant_only = [Retention {
        tenant: Some("someone-else".into()),
        days: 1,
    }];
    let later = chrono::Utc::now() + chrono::Duration::days(3);
    assert_eq!(
        apply_retention(&admin, &other_tenant_only, later)
            .await
            .unwrap(),
        0
    );
    let everyone = [Retention {
        tenant: None,
        days: 1,
    }];
    assert_eq!(apply_retention(&admin, &everyone, later).await.unwrap(), 1);

    let (_, export) = send(&app, reqwest::Method::GET, "/v1/users/kid-old/export", None).await;
    assert_eq!(export["conversations"], json!([]), "{export}");
    assert_eq!(
        export["facts"][0]["value"], "Zorblatt",
        "facts stay: {export}"
    );
    let scopes: Vec<String> = sqlx::query_scalar("SELECT scope FROM data_keys ORDER BY scope")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        scopes,
        ["facts"],
        "the conversation's key is gone, the facts' key stays"
    );
    app.stop().await;
}
