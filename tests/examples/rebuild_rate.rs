//! Rebuild rate on a large event store: `cargo run --release -p pika-tests --example
//! rebuild_rate [EVENTS]` (default 100,000). Writes a random history of extraction jobs
//! (submitted, started, applied, completed, failed or dead-lettered) over 1,000 users through
//! the real write side into a fresh database, catches the live projections up, then times
//! `projections rebuild` for each read model and checks the rebuilt tables equal the live ones.

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
    let (_database, pool) = TestDatabase::migrated().await;
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
}
