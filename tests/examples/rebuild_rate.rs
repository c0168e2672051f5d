//! Rebuild rate on a large event store: `cargo run --release -p pika-tests --example
//! rebuild_rate [EVENTS]` (default 100,000). Writes the history through the real write side
//! into a fresh database, catches the live projections up, then times
//! `projections rebuild` for each read model and checks the rebuilt tables equal the live ones.

use std::sync::Arc;
use std::time::Instant;

use pika_commands::{CommandContext, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::rebuild::rebuild;
use pika_projections::{DaemonSettings, PostgresEventLog, ProjectionDaemon, all_projections};
use pika_tests::TestDatabase;

const OPERATIONS_PER_COMMIT: usize = 100;

fn candidate(key: &str, value: &str) -> FactCandidate {
    FactCandidate {
        key: FactKey::parse(key).expect("key"),
        value: FactValue::parse(value).expect("value"),
        text: FactText::parse(&format!("{key} is {value}")).expect("text"),
        confidence: Confidence::new(0.8).expect("confidence"),
        language: Language::parse("en").expect("language"),
        source: FactSource::default(),
    }
}

async fn table_rows(pool: &sqlx::PgPool, table: &str, order: &str) -> String {
    sqlx::query_scalar(&format!(
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY {order}), '[]')::text FROM {table} t"
    ))
    .fetch_one(pool)
    .await
    .expect("rows")
}

#[tokio::main]
async fn main() {
    let target: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let (_database, pool) = TestDatabase::migrated().await;
    let model = Arc::new(WriteModel::postgres(pool.clone(), RetryPolicy::default()));
    let tenant = TenantId::parse("bench").expect("tenant");
    let started = Instant::now();
    let mut written = 0;
    let mut commit = 0;
    while written < target {
        let user = UserId::parse(&format!("user-{}", commit % 1000)).expect("user");
        let operations = (0..OPERATIONS_PER_COMMIT)
            .map(|n| FactOperation::Add {
                fact_id: FactId::generate(),
                candidate: if n % 10 == 0 {
                    candidate("favorite.color", &format!("colour {}", commit % 7))
                } else {
                    candidate("likes.thing", &format!("thing {commit}-{n}"))
                },
            })
            .collect();
        let command = UserMemoryCommand::ApplyExtraction {
            job_id: JobId::generate(),
            operations,
        };
        let context = CommandContext::new(format!("bench-{commit}"), "bench");
        model
            .execute_user_memory(&tenant, &user, command, &context)
            .await
            .expect("commit");
        commit += 1;
        written = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .expect("count") as usize;
    }
    println!(
        "wrote {written} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let log = PostgresEventLog::new(pool.clone());
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
    let facts = table_rows(&pool, "facts", "tenant, user_id, fact_id").await;
    let summary = table_rows(&pool, "user_favorite_summary", "tenant, user_id").await;

    for projection in all_projections() {
        let name = projection.name();
        let started = Instant::now();
        let report = rebuild(&pool, &log, projection, |_| {})
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
    assert_eq!(
        table_rows(&pool, "facts", "tenant, user_id, fact_id").await,
        facts
    );
    assert_eq!(
        table_rows(&pool, "user_favorite_summary", "tenant, user_id").await,
        summary
    );
    println!("rebuilt tables equal the live ones");
}
