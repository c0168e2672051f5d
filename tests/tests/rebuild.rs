//! Rebuilding read models from the event store gives back exactly the live tables.

use std::sync::Arc;

use pika_commands::{RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::ProjectionRebuilder;
use pika_projections::postgres::PostgresRebuilder;
use pika_projections::{DaemonSettings, PostgresEventLog, ProjectionDaemon, all_projections};
use pika_tests::TestDatabase;
use pika_tests::history::{REBUILT_TABLES, catch_up_fully, event_count, random_job, table_rows};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const USERS: usize = 100;
const MIN_EVENTS: i64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_after_a_random_history_equals_the_live_tables_row_for_row() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = Arc::new(WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    ));
    let tenant = TenantId::parse("acme").unwrap();
    let mut writers = Vec::new();
    for worker in 0..4 {
        let (model, pool, tenant) = (model.clone(), pool.clone(), tenant.clone());
        writers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(worker as u64);
            let mut round = 0;
            while round % 25 != 0 || event_count(&pool).await < MIN_EVENTS {
                round += 1;
                let kid = UserId::parse(&format!(
                    "kid-{}",
                    worker + 4 * rng.random_range(0..USERS / 4)
                ))
                .unwrap();
                let size = rng.random_range(6..16);
                random_job(&model, &mut rng, &tenant, &kid, size).await;
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let total = event_count(&pool).await;
    assert!(total >= MIN_EVENTS);
    let users: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT aggregate_id) FROM events WHERE aggregate_type = 'UserMemory'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(users, USERS as i64);

    let log = PostgresEventLog::new(pool.clone(), pika_tests::pg_data_keys(&pool));
    let daemon = ProjectionDaemon::new(
        pool.clone(),
        Arc::new(log.clone()),
        all_projections(),
        DaemonSettings::default(),
    );
    catch_up_fully(&daemon, &pool).await;
    let mut live = Vec::new();
    for (table, order) in REBUILT_TABLES {
        live.push(table_rows(&pool, table, order).await);
    }
    assert!(live[0].len() > 1000, "the history left live facts");
    for status in ["completed", "failed", "dead_lettered"] {
        assert!(live[2].contains(status), "the history has {status} jobs");
    }
    assert!(live[3].len() > 1000, "the history left conversation turns");

    let indexes_before = index_names(&pool).await;
    for projection in all_projections() {
        let mut reported = 0;
        let report = PostgresRebuilder::new(pool.clone(), pika_tests::pg_data_keys(&pool))
            .rebuild(projection, &mut |n| reported += n)
            .await
            .unwrap();
        assert_eq!(report.events_applied, total as u64);
        assert_eq!(report.events_in_store, total as u64);
        assert_eq!(reported, total as u64);
    }
    for ((table, order), live) in REBUILT_TABLES.iter().zip(&live) {
        assert_eq!(
            &table_rows(&pool, table, order).await,
            live,
            "{table} rebuilt equals live"
        );
    }
    assert_eq!(
        index_names(&pool).await,
        indexes_before,
        "a rebuild keeps the index and constraint names migrations refer to"
    );

    // `projections rebuild`: all of them from one pass over the log, each with its own report.
    let mut reported = 0;
    let reports = PostgresRebuilder::new(pool.clone(), pika_tests::pg_data_keys(&pool))
        .rebuild_all(all_projections(), &mut |n| reported += n)
        .await
        .unwrap();
    assert_eq!(reports.len(), all_projections().len());
    for report in &reports {
        assert_eq!(report.events_applied, total as u64);
        assert_eq!(report.events_in_store, total as u64);
    }
    assert_eq!(reported, total as u64, "one pass reads each event once");
    for ((table, order), live) in REBUILT_TABLES.iter().zip(&live) {
        assert_eq!(
            &table_rows(&pool, table, order).await,
            live,
            "{table} rebuilt in one pass equals live"
        );
    }
    assert_eq!(index_names(&pool).await, indexes_before);
    assert_eq!(
        daemon.catch_up().await.unwrap(),
        0,
        "the live daemon has nothing left to apply"
    );
}

/// Every index of the schema with its table, as later migrations name them.
async fn index_names(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT tablename::text, indexname::text FROM pg_indexes
          WHERE schemaname = 'public' ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}
