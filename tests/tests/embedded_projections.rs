//! The embedded read models against a real SQLite file: the same rows as the Postgres
//! projections for the same log, exactly once across failures and restarts, and each
//! submitted job queued once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pika_commands::sqlite::{connect_sqlite, migrate_sqlite};
use pika_commands::{RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::ReadStore;
use pika_projections::postgres::PostgresReadStore;
use pika_projections::search::{SearchFilter, rank};
use pika_projections::sqlite::EmbeddedProjector;
use pika_projections::sqlite::SqliteReadStore;
use pika_projections::{DaemonSettings, PostgresEventLog, ProjectionDaemon, all_projections};
use pika_tests::TestDatabase;
use pika_tests::data_dir::TestDataDir;
use pika_tests::history::{catch_up_fully, random_job};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{PgPool, Row};

const USERS: usize = 20;
const JOBS: usize = 150;

/// A random history written through the Postgres write model.
async fn postgres_history(pool: &PgPool) {
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(pool),
        RetryPolicy::default(),
    );
    let tenant = TenantId::parse("acme").unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..JOBS {
        let kid = UserId::parse(&format!("kid-{}", rng.random_range(0..USERS))).unwrap();
        let size = rng.random_range(4..12);
        random_job(&model, &mut rng, &tenant, &kid, size).await;
    }
}

/// Copies the Postgres log into the SQLite file, positions included, with the data keys that
/// open it. The guard against writing with a destroyed key is for new commits; a copy of a log
/// holds events of forgotten users, sealed with keys that are gone, so it is lifted here.
async fn copy_log(from: &PgPool, to: &SqlitePool) -> usize {
    let keys: Vec<(uuid::Uuid, String, String, Vec<u8>)> =
        sqlx::query_as("SELECT key_id, owner, scope, wrapped FROM data_keys")
            .fetch_all(from)
            .await
            .unwrap();
    for (id, owner, scope, wrapped) in keys {
        sqlx::query("INSERT INTO data_keys (key_id, owner, scope, wrapped) VALUES (?, ?, ?, ?)")
            .bind(id.to_string())
            .bind(owner)
            .bind(scope)
            .bind(wrapped)
            .execute(to)
            .await
            .unwrap();
    }
    sqlx::query("DROP TRIGGER events_refuse_destroyed_key")
        .execute(to)
        .await
        .unwrap();
    let rows = sqlx::query(
        "SELECT global_position, aggregate_type, aggregate_id, sequence, event_type,
                event_version, payload::text AS payload, metadata::text AS metadata
           FROM events ORDER BY global_position",
    )
    .fetch_all(from)
    .await
    .unwrap();
    for row in &rows {
        sqlx::query(
            "INSERT INTO events (global_position, aggregate_type, aggregate_id, sequence,
                event_type, event_version, payload, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.get::<i64, _>("global_position"))
        .bind(row.get::<String, _>("aggregate_type"))
        .bind(row.get::<String, _>("aggregate_id"))
        .bind(row.get::<i64, _>("sequence"))
        .bind(row.get::<String, _>("event_type"))
        .bind(row.get::<String, _>("event_version"))
        .bind(row.get::<String, _>("payload"))
        .bind(row.get::<String, _>("metadata"))
        .execute(to)
        .await
        .unwrap();
    }
    rows.len()
}

fn time(at: Option<DateTime<Utc>>) -> Value {
    json!(at.map(|at| at.to_rfc3339()))
}

fn pg_fact(row: &PgRow) -> Value {
    json!([
        row.get::<String, _>("tenant"),
        row.get::<String, _>("user_id"),
        row.get::<uuid::Uuid, _>("fact_id").to_string(),
        row.get::<String, _>("key"),
        row.get::<String, _>("kind"),
        row.get::<String, _>("value"),
        row.get::<String, _>("text"),
        row.get::<f64, _>("confidence"),
        row.get::<String, _>("language"),
        row.get::<Option<uuid::Uuid>, _>("source_job_id")
            .map(|id| id.to_string()),
        row.get::<Vec<i32>, _>("source_messages"),
        row.get::<i32, _>("version"),
        time(Some(row.get("created_at"))),
        time(Some(row.get("updated_at"))),
        row.get::<i64, _>("global_position"),
    ])
}

fn sqlite_fact(row: &SqliteRow) -> Value {
    let messages: Vec<i32> =
        serde_json::from_str(&row.get::<String, _>("source_messages")).unwrap();
    json!([
        row.get::<String, _>("tenant"),
        row.get::<String, _>("user_id"),
        row.get::<String, _>("fact_id"),
        row.get::<String, _>("key"),
        row.get::<String, _>("kind"),
        row.get::<String, _>("value"),
        row.get::<String, _>("text"),
        row.get::<f64, _>("confidence"),
        row.get::<String, _>("language"),
        row.get::<Option<String>, _>("source_job_id"),
        messages,
        row.get::<i32, _>("version"),
        time(Some(row.get("created_at"))),
        time(Some(row.get("updated_at"))),
        row.get::<i64, _>("global_position"),
    ])
}

fn pg_summary(row: &PgRow) -> Value {
    json!([
        row.get::<String, _>("tenant"),
        row.get::<String, _>("user_id"),
        row.get::<Value, _>("favorites"),
        row.get::<Value, _>("likes"),
        row.get::<Value, _>("dislikes"),
        row.get::<i32, _>("live_facts"),
        time(Some(row.get("last_changed_at"))),
        row.get::<i64, _>("global_position"),
    ])
}

fn sqlite_summary(row: &SqliteRow) -> Value {
    let parse =
        |column: &str| -> Value { serde_json::from_str(&row.get::<String, _>(column)).unwrap() };
    json!([
        row.get::<String, _>("tenant"),
        row.get::<String, _>("user_id"),
        parse("favorites"),
        parse("likes"),
        parse("dislikes"),
        row.get::<i32, _>("live_facts"),
        time(Some(row.get("last_changed_at"))),
        row.get::<i64, _>("global_position"),
    ])
}

fn job_fields(job: pika_projections::jobs::JobRecord, tenant: String, job_id: String) -> Value {
    json!([
        tenant,
        job_id,
        job.user_id,
        job.status,
        job.attempts,
        job.last_error,
        job.idempotency_key,
        time(Some(job.submitted_at)),
        time(job.started_at),
        time(job.finished_at),
        [job.added, job.updated, job.retracted, job.unchanged],
        job.global_position,
    ])
}

/// The three read models, each in its key order.
const READ_MODELS: [(&str, &str); 3] = [
    ("facts", "tenant, user_id, fact_id"),
    ("user_favorite_summary", "tenant, user_id"),
    ("extraction_jobs", "tenant, job_id"),
];

fn ordered(table: &str, order: &str) -> String {
    format!("SELECT * FROM {table} ORDER BY {order}")
}

async fn postgres_rows(pool: &PgPool) -> Vec<Vec<Value>> {
    let mut models = Vec::new();
    for (table, order) in READ_MODELS {
        let rows = sqlx::query(&ordered(table, order))
            .fetch_all(pool)
            .await
            .unwrap();
        models.push(rows.iter().map(|row| pg_row(table, row)).collect());
    }
    models
}

fn pg_row(table: &str, row: &PgRow) -> Value {
    match table {
        "facts" => pg_fact(row),
        "user_favorite_summary" => pg_summary(row),
        _ => {
            let record: pika_projections::jobs::JobRecord = sqlx::FromRow::from_row(row).unwrap();
            let job_id = row.get::<uuid::Uuid, _>("job_id").to_string();
            job_fields(record, row.get("tenant"), job_id)
        }
    }
}

async fn sqlite_rows(pool: &SqlitePool) -> Vec<Vec<Value>> {
    let mut models = Vec::new();
    for (table, order) in READ_MODELS {
        let rows = sqlx::query(&ordered(table, order))
            .fetch_all(pool)
            .await
            .unwrap();
        models.push(rows.iter().map(|row| sqlite_row(table, row)).collect());
    }
    models
}

fn sqlite_row(table: &str, row: &SqliteRow) -> Value {
    match table {
        "facts" => sqlite_fact(row),
        "user_favorite_summary" => sqlite_summary(row),
        _ => {
            let record = pika_projections::sqlite::job_record(row).unwrap();
            job_fields(record, row.get("tenant"), row.get("job_id"))
        }
    }
}

async fn embedded(dir: &TestDataDir) -> SqlitePool {
    let pool = connect_sqlite(dir.path(), 4).await.unwrap();
    migrate_sqlite(&pool).await.unwrap();
    pool
}

async fn queued_jobs(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM job_queue")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A random Postgres history, projected there and copied into a fresh SQLite file, which is
/// projected in two runs with a restart between.
struct SameLog {
    _database: TestDatabase,
    pg: PgPool,
    _dir: TestDataDir,
    sqlite: SqlitePool,
}

async fn same_log_in_both() -> SameLog {
    let (database, pg) = TestDatabase::migrated().await;
    postgres_history(&pg).await;
    let daemon = ProjectionDaemon::new(
        pg.clone(),
        Arc::new(PostgresEventLog::new(
            pg.clone(),
            pika_tests::pg_data_keys(&pg),
        )),
        all_projections(),
        DaemonSettings::default(),
    );
    catch_up_fully(&daemon, &pg).await;

    let dir = TestDataDir::new();
    let sqlite = embedded(&dir).await;
    let events = copy_log(&pg, &sqlite).await;
    let half = {
        let projector = EmbeddedProjector::new(
            sqlite.clone(),
            pika_tests::sqlite_data_keys(&sqlite),
            all_projections(),
        );
        projector.apply_next_batch().await.unwrap()
    };
    assert!(half > 0 && half < events, "{half} of {events}");
    sqlite.close().await;
    let sqlite = embedded(&dir).await;
    let projector = EmbeddedProjector::new(
        sqlite.clone(),
        pika_tests::sqlite_data_keys(&sqlite),
        all_projections(),
    );
    assert_eq!(
        projector.catch_up().await.unwrap() + half,
        events,
        "each event once"
    );
    assert_eq!(projector.catch_up().await.unwrap(), 0);
    SameLog {
        _database: database,
        pg,
        _dir: dir,
        sqlite,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_read_models_equal_the_postgres_ones_for_the_same_log_across_a_restart() {
    let SameLog { pg, sqlite, .. } = &same_log_in_both().await;
    let (pg, sqlite) = (pg.clone(), sqlite.clone());
    let expected = postgres_rows(&pg).await;
    let actual = sqlite_rows(&sqlite).await;
    assert!(expected[0].len() > 100, "the history left live facts");
    for status in ["completed", "failed", "dead_lettered"] {
        assert!(
            expected[2].iter().any(|job| job[3] == status),
            "the history has {status} jobs"
        );
    }
    for ((table, _), (expected, actual)) in READ_MODELS.iter().zip(expected.iter().zip(&actual)) {
        let only_in = |a: &Vec<Value>, b: &Vec<Value>| -> Vec<Value> {
            a.iter().filter(|row| !b.contains(row)).cloned().collect()
        };
        assert_eq!(
            (only_in(expected, actual), only_in(actual, expected)),
            (vec![], vec![]),
            "{table}: rows only in Postgres, rows only in SQLite"
        );
        assert_eq!(expected.len(), actual.len(), "{table} row count");
        for (expected, actual) in expected.iter().zip(actual) {
            assert_eq!(expected, actual, "{table}");
        }
    }
    assert_eq!(
        queued_jobs(&sqlite).await,
        JOBS as i64,
        "every job queued once"
    );
}

#[tokio::test]
async fn a_batch_that_fails_leaves_nothing_and_is_applied_once_when_it_can_be() {
    let dir = TestDataDir::new();
    let pool = embedded(&dir).await;
    let model = WriteModel::sqlite(
        pool.clone(),
        std::sync::Arc::new(pika_tests::sqlite_data_keys(&pool)),
        RetryPolicy::default(),
    );
    let tenant = TenantId::parse("acme").unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    random_job(&model, &mut rng, &tenant, &UserId::parse("kid").unwrap(), 5).await;
    let good: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
            payload, metadata)
         VALUES ('UserMemory', 'acme/kid', 999, 'FactAdded', '1.0', '{\"FactAdded\": 1}', '{}')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let projector = EmbeddedProjector::new(
        pool.clone(),
        pika_tests::sqlite_data_keys(&pool),
        all_projections(),
    );
    let error = projector
        .catch_up()
        .await
        .expect_err("an event it cannot read");
    assert!(error.to_string().contains("cannot be projected"), "{error}");
    let facts: i64 = sqlx::query_scalar("SELECT count(*) FROM facts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(facts, 0, "no row of the failed batch survives");
    assert_eq!(queued_jobs(&pool).await, 0, "nor its queued job");

    sqlx::query("DELETE FROM events WHERE sequence = 999")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(projector.catch_up().await.unwrap() as i64, good);
    assert_eq!(
        projector.catch_up().await.unwrap(),
        0,
        "nothing applied twice"
    );
    assert_eq!(queued_jobs(&pool).await, 1);
}

fn same<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_question_gets_the_same_answer_from_both_backends() {
    let SameLog { pg, sqlite, .. } = &same_log_in_both().await;
    let postgres = PostgresReadStore::new(pg.clone(), pika_tests::pg_data_keys(pg));
    let embedded = SqliteReadStore::new(
        sqlite.clone(),
        std::sync::Arc::new(pika_tests::sqlite_data_keys(sqlite)),
    );
    let tenant = TenantId::parse("acme").unwrap();
    let middle: DateTime<Utc> = sqlx::query_scalar(
        "SELECT (metadata ->> 'time')::timestamptz FROM events
          ORDER BY global_position OFFSET (SELECT count(*) / 2 FROM events) LIMIT 1",
    )
    .fetch_one(pg)
    .await
    .unwrap();
    let other = TenantId::parse("other").unwrap();
    let texts = postgres.memory_texts().await.unwrap();
    assert!(!texts.is_empty());
    assert_eq!(texts, embedded.memory_texts().await.unwrap());
    let mut histories = 0;
    for n in 0..USERS {
        let user = UserId::parse(&format!("kid-{n}")).unwrap();
        let facts = postgres.live_facts(&tenant, &user).await.unwrap();
        assert_eq!(
            same(&facts),
            same(&embedded.live_facts(&tenant, &user).await.unwrap())
        );
        assert_eq!(
            same(&postgres.facts_as_of(&tenant, &user, middle).await.unwrap()),
            same(&embedded.facts_as_of(&tenant, &user, middle).await.unwrap()),
            "{user} as of {middle}"
        );
        assert_eq!(
            same(&postgres.favorite_summary(&tenant, &user).await.unwrap()),
            same(&embedded.favorite_summary(&tenant, &user).await.unwrap())
        );
        for fact in facts.iter().take(3) {
            let history = postgres.fact_history(&tenant, fact.fact_id).await.unwrap();
            assert!(history.is_some());
            assert_eq!(
                same(&history),
                same(&embedded.fact_history(&tenant, fact.fact_id).await.unwrap())
            );
            assert_eq!(
                same(&postgres.fact(&tenant, fact.fact_id).await.unwrap()),
                same(&embedded.fact(&tenant, fact.fact_id).await.unwrap())
            );
            assert_eq!(
                postgres.fact_owner(&tenant, fact.fact_id).await.unwrap(),
                embedded.fact_owner(&tenant, fact.fact_id).await.unwrap()
            );
            assert!(
                embedded
                    .fact_owner(&other, fact.fact_id)
                    .await
                    .unwrap()
                    .is_none()
            );
            histories += 1;
        }
        let head = postgres.user_head(&tenant, &user).await.unwrap();
        assert_eq!(head, embedded.user_head(&tenant, &user).await.unwrap());
        let (sequence, _) = head.unwrap();
        assert_eq!(
            postgres
                .user_log_after(&tenant, &user, sequence - 5)
                .await
                .unwrap(),
            embedded
                .user_log_after(&tenant, &user, sequence - 5)
                .await
                .unwrap()
        );
        let index_pg = postgres
            .load_index("acme", user.as_str(), "m")
            .await
            .unwrap();
        let index_sqlite = embedded
            .load_index("acme", user.as_str(), "m")
            .await
            .unwrap();
        // A refresh from nothing reads every fact by id (SQLite: through json_each); a
        // refresh of a current index reads none.
        let (from_nothing, changes) = embedded
            .refresh_index("acme", user.as_str(), "m", &Default::default())
            .await
            .unwrap();
        assert_eq!(changes.to_read.len(), index_sqlite.facts().len());
        let (_, none) = embedded
            .refresh_index("acme", user.as_str(), "m", &index_sqlite)
            .await
            .unwrap();
        assert!(none.to_read.is_empty(), "{none:?}");
        for query in ["cá", "kites", "favorite color"] {
            let filter = SearchFilter::default();
            assert_eq!(
                same(&rank(&index_pg, query, None, &filter, 5, 0.0)),
                same(&rank(&index_sqlite, query, None, &filter, 5, 0.0)),
                "{user}: {query}"
            );
            assert_eq!(
                same(&rank(&from_nothing, query, None, &filter, 5, 0.0)),
                same(&rank(&index_sqlite, query, None, &filter, 5, 0.0)),
                "{user}: {query}, refreshed"
            );
        }
    }
    assert!(histories > 20, "{histories}");
    let last = postgres.last_position_issued().await.unwrap();
    assert_eq!(last, embedded.last_position_issued().await.unwrap());
    for projection in ["facts", "user_favorite_summary", "extraction_jobs"] {
        assert!(embedded.has_applied(projection, last).await.unwrap());
        assert!(!embedded.has_applied(projection, last + 1).await.unwrap());
    }
    let jobs: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT job_id FROM extraction_jobs")
        .fetch_all(pg)
        .await
        .unwrap();
    for job in jobs {
        let gating = pika_projections::jobs::READ_MODELS;
        let view = postgres.job_view(&tenant, job, gating).await.unwrap();
        assert!(view.is_some());
        assert_eq!(
            same(&view),
            same(&embedded.job_view(&tenant, job, gating).await.unwrap())
        );
        assert!(
            embedded
                .job_view(&other, job, gating)
                .await
                .unwrap()
                .is_none()
        );
    }
    let unknown = uuid::Uuid::new_v4();
    assert!(embedded.fact(&tenant, unknown).await.unwrap().is_none());
    assert!(
        embedded
            .fact_history(&tenant, unknown)
            .await
            .unwrap()
            .is_none()
    );
}

/// `projections rebuild` on the embedded file: each read model is rewritten from the log,
/// row for row as the projector left it, with the log's own count; and a projection whose
/// checkpoint then stands ahead of the others is never fed an event twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_rebuild_reproduces_every_read_model_and_nothing_is_applied_twice_after() {
    use pika_projections::ProjectionRebuilder;
    use pika_projections::sqlite::SqliteRebuilder;

    let SameLog { sqlite, .. } = &same_log_in_both().await;
    let sqlite = sqlite.clone();
    let projected = sqlite_rows(&sqlite).await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&sqlite)
        .await
        .unwrap();
    sqlx::query("DELETE FROM facts")
        .execute(&sqlite)
        .await
        .unwrap();
    sqlx::query("UPDATE user_favorite_summary SET live_facts = -1")
        .execute(&sqlite)
        .await
        .unwrap();
    let rebuilder = SqliteRebuilder::new(sqlite.clone(), pika_tests::sqlite_data_keys(&sqlite));
    for projection in all_projections() {
        let mut reported = 0;
        let report = rebuilder
            .rebuild(projection, &mut |n| reported += n)
            .await
            .unwrap();
        assert_eq!(report.events_applied, events as u64);
        assert_eq!(report.events_in_store, events as u64);
        assert_eq!(reported, events as u64);
    }
    assert_eq!(sqlite_rows(&sqlite).await, projected, "rebuilt = projected");

    // One model far behind the others: the projector replays the log for it alone.
    sqlx::query("DELETE FROM extraction_jobs")
        .execute(&sqlite)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE projection_checkpoints SET global_position = 0
          WHERE projection = 'extraction_jobs'",
    )
    .execute(&sqlite)
    .await
    .unwrap();
    let projector = EmbeddedProjector::new(
        sqlite.clone(),
        pika_tests::sqlite_data_keys(&sqlite),
        all_projections(),
    );
    assert_eq!(projector.catch_up().await.unwrap(), events as usize);
    assert_eq!(
        sqlite_rows(&sqlite).await,
        projected,
        "the facts and summary ahead of it were not applied again"
    );
    let statuses = SqliteReadStore::new(
        sqlite.clone(),
        std::sync::Arc::new(pika_tests::sqlite_data_keys(&sqlite)),
    )
    .projection_status(&["facts"])
    .await
    .unwrap();
    assert!(
        statuses.iter().all(|status| status.lag_events == 0),
        "{statuses:?}"
    );
}
