//! Rebuild rate on a large event store: `cargo run --release -p pika-tests --example
//! rebuild_rate [EVENTS]` (default 100,000). Writes a random history of extraction jobs
//! (submitted, started, applied, completed, failed or dead-lettered) over 1,000 users through
//! the real write side into a fresh database, catches the live projections up, then times the
//! rebuild of each read model on its own (`projections rebuild NAME`) and of all of them in
//! one pass (`projections rebuild`), checking each time that the rebuilt tables equal the live
//! ones.

use std::sync::Arc;
use std::time::Instant;

use pika_commands::{RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::ProjectionRebuilder;
use pika_projections::postgres::PostgresRebuilder;
use pika_projections::{DaemonSettings, PostgresEventLog, ProjectionDaemon, all_projections};
use pika_tests::TestDatabase;
use pika_tests::history::{REBUILT_TABLES, event_count, random_job, table_rows};
use rand::SeedableRng;
use rand::rngs::StdRng;

const USERS: u64 = 1_000;
const WRITERS: u64 = 4;
const OPERATIONS_PER_JOB: usize = 30;

#[tokio::main]
async fn main() {
    let target: i64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let (database, pool) = TestDatabase::migrated().await;
    let model = Arc::new(WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    ));
    let tenant = TenantId::parse("bench").expect("tenant");
    let started = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (model, pool, tenant) = (model.clone(), pool.clone(), tenant.clone());
        writers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(writer);
            let mut round = 0u64;
            while !round.is_multiple_of(20) || event_count(&pool).await < target {
                let user = UserId::parse(&format!("user-{}", (round * WRITERS + writer) % USERS))
                    .expect("user");
                random_job(&model, &mut rng, &tenant, &user, OPERATIONS_PER_JOB).await;
                round += 1;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let written = event_count(&pool).await;
    println!(
        "wrote {written} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let log = PostgresEventLog::new(pool.clone(), pika_tests::pg_data_keys(&pool));
    let daemon = ProjectionDaemon::new(
        pool.clone(),
        Arc::new(log.clone()),
        all_projections(),
        DaemonSettings::default(),
    );
    let started = Instant::now();
    daemon.catch_up().await.expect("catch up");
    println!(
        "live daemon applied them in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut live = Vec::new();
    for (table, order) in REBUILT_TABLES {
        live.push(table_rows(&pool, table, order).await);
    }

    for projection in all_projections() {
        let name = projection.name();
        let started = Instant::now();
        let report = PostgresRebuilder::new(pool.clone(), pika_tests::pg_data_keys(&pool))
            .rebuild(projection, &mut |_| {})
            .await
            .expect("rebuild");
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "rebuild {name}: {} events in {seconds:.2} s = {:.0} events/s (store holds {})",
            report.events_applied,
            report.events_applied as f64 / seconds,
            report.events_in_store
        );
    }
    for ((table, order), live) in REBUILT_TABLES.iter().zip(&live) {
        assert_eq!(&table_rows(&pool, table, order).await, live, "{table}");
    }
    println!("rebuilt tables equal the live ones");

    // What `projections rebuild` does: every read model from one pass over the log. And what
    // sealing costs, on the same binary and the same history: a copy of the database has its
    // log opened in place (as before issue 17, every personal field in clear); the two are
    // rebuilt in turns, and the medians compared, as one run on a shared machine varies by
    // tens of percent.
    pool.close().await;
    let clear_copy = copy_of(&database).await;
    let pool = database.pool(8).await;
    let clear_pool = clear_copy.pool(8).await;
    unseal(
        &clear_pool,
        &PostgresEventLog::new(clear_pool.clone(), pika_tests::pg_data_keys(&clear_pool)),
    )
    .await;
    let (mut sealed, mut clear) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        sealed.push(one_pass(&pool, "sealed").await);
        clear.push(one_pass(&clear_pool, "clear").await);
    }
    let (sealed, clear) = (median(sealed), median(clear));
    println!(
        "rebuild all in one pass: median sealed {sealed:.2} s, clear {clear:.2} s = {:+.1} %",
        (sealed / clear - 1.0) * 100.0
    );
    for ((table, order), live) in REBUILT_TABLES.iter().zip(&live) {
        assert_eq!(&table_rows(&pool, table, order).await, live, "{table}");
        assert_eq!(
            &table_rows(&clear_pool, table, order).await,
            live,
            "{table}"
        );
    }
    println!("rebuilt tables equal the live ones, sealed and clear");
}

/// Runs of the one-pass rebuild per log.
const RUNS: usize = 5;

/// The time of one one-pass rebuild of every read model, in seconds.
async fn one_pass(pool: &sqlx::PgPool, log: &str) -> f64 {
    let started = Instant::now();
    let reports = PostgresRebuilder::new(pool.clone(), pika_tests::pg_data_keys(pool))
        .rebuild_all(all_projections(), &mut |_| {})
        .await
        .expect("rebuild all");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "  one pass, {log}: {} events in {seconds:.2} s = {:.0} events/s",
        reports[0].events_applied,
        reports[0].events_applied as f64 / seconds
    );
    seconds
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A copy of `database` (which must have no open connections), dropped with the value.
async fn copy_of(database: &TestDatabase) -> TestDatabase {
    use sqlx::{Connection, Executor};
    let name = format!("{}_clear", database.name);
    let mut admin = sqlx::PgConnection::connect(&pika_tests::admin_database_url())
        .await
        .expect("admin connection");
    admin
        .execute(format!("CREATE DATABASE {name} TEMPLATE {}", database.name).as_str())
        .await
        .expect("copy the database");
    TestDatabase {
        url: database.url.replace(&database.name, &name),
        name,
    }
}

/// Rewrites every event with its personal fields opened: the log as it was before sealing.
async fn unseal(pool: &sqlx::PgPool, log: &PostgresEventLog) {
    let mut position = pika_projections::LogPosition::default();
    loop {
        let events = pika_projections::EventLog::read_after(log, position, 5_000)
            .await
            .expect("read");
        let Some(last) = events.last() else {
            break;
        };
        position = last.position;
        let (positions, payloads): (Vec<i64>, Vec<serde_json::Value>) = events
            .into_iter()
            .map(|event| (event.position.global_position, event.payload))
            .unzip();
        sqlx::query(
            "UPDATE events e SET payload = v.payload
               FROM unnest($1::bigint[], $2::jsonb[]) AS v(global_position, payload)
              WHERE e.global_position = v.global_position",
        )
        .bind(&positions)
        .bind(&payloads)
        .execute(pool)
        .await
        .expect("unseal");
    }
    let sealed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%\"sealed\"%'")
            .fetch_one(pool)
            .await
            .expect("count");
    assert_eq!(sealed, 0, "every event is in clear");
}
