//! Rebuilding read models from the event store gives back exactly the live tables.

use std::sync::Arc;

use pika_commands::{CommandContext, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::rebuild::rebuild;
use pika_projections::{DaemonSettings, PostgresEventLog, ProjectionDaemon, all_projections};
use pika_tests::TestDatabase;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;

const USERS: usize = 100;
const MIN_EVENTS: i64 = 10_000;

fn candidate(key: &str, value: &str) -> FactCandidate {
    FactCandidate {
        key: FactKey::parse(key).unwrap(),
        value: FactValue::parse(value).unwrap(),
        text: FactText::parse(&format!("{key} = {value}")).unwrap(),
        confidence: Confidence::new(0.7).unwrap(),
        language: Language::parse("en").unwrap(),
        source: FactSource::default(),
    }
}

/// A random batch for one user: new likes and dislikes (some contradicting), favourite
/// changes, and retractions of facts that are live now.
fn random_batch(rng: &mut impl Rng, memory: &UserMemory) -> Vec<FactOperation> {
    let things = [
        "phở", "pizza", "kites", "robots", "cá", "mèo", "lego", "trains", "kem", "rice",
    ];
    let colours = ["red", "blue", "xanh", "vàng", "green"];
    let mut operations = Vec::new();
    let mut touched = std::collections::BTreeSet::new();
    for _ in 0..rng.random_range(4..12) {
        let op = match rng.random_range(0..10) {
            0..=3 => {
                let thing = format!("{} {}", things.choose(rng).unwrap(), rng.random_range(0..8));
                let key = if rng.random_bool(0.7) {
                    "likes.thing"
                } else {
                    "dislikes.thing"
                };
                FactOperation::Add {
                    fact_id: FactId::generate(),
                    candidate: candidate(key, &thing),
                }
            }
            4..=5 => FactOperation::Add {
                fact_id: FactId::generate(),
                candidate: candidate("favorite.color", colours.choose(rng).unwrap()),
            },
            _ => {
                let live: Vec<&FactId> = memory
                    .live_facts()
                    .keys()
                    .filter(|id| !touched.contains(*id))
                    .collect();
                let Some(fact_id) = live.choose(rng).copied() else {
                    continue;
                };
                touched.insert(*fact_id);
                FactOperation::Retract {
                    fact_id: *fact_id,
                    reason: RetractReason::Negated,
                }
            }
        };
        operations.push(op);
    }
    // Retractions first: a later add may itself retract a contradicted fact.
    operations.sort_by_key(|op| !matches!(op, FactOperation::Retract { .. }));
    operations
}

async fn table_rows(pool: &PgPool, table: &str, order: &str) -> String {
    sqlx::query_scalar(&format!(
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY {order}), '[]')::text FROM {table} t"
    ))
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_after_a_random_history_equals_the_live_tables_row_for_row() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = Arc::new(WriteModel::postgres(pool.clone(), RetryPolicy::default()));
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
                let memory = model.load_user_memory(&tenant, &kid).await.unwrap();
                let command = UserMemoryCommand::ApplyExtraction {
                    job_id: JobId::generate(),
                    operations: random_batch(&mut rng, &memory),
                };
                let context = CommandContext::new(format!("job-{round}"), "worker");
                model
                    .execute_user_memory(&tenant, &kid, command, &context)
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let total = event_count(&pool).await;
    assert!(total >= MIN_EVENTS);
    let users: i64 = sqlx::query_scalar("SELECT count(DISTINCT aggregate_id) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, USERS as i64);

    let log = PostgresEventLog::new(pool.clone());
    let daemon = ProjectionDaemon::new(
        pool.clone(),
        Arc::new(log.clone()),
        all_projections(),
        DaemonSettings::default(),
    );
    daemon.catch_up().await.unwrap();
    let live_facts = table_rows(&pool, "facts", "tenant, user_id, fact_id").await;
    let live_summary = table_rows(&pool, "user_favorite_summary", "tenant, user_id").await;
    assert!(live_facts.len() > 1000, "the history left live facts");

    for projection in all_projections() {
        let mut reported = 0;
        let report = rebuild(&pool, &log, projection, |n| reported += n)
            .await
            .unwrap();
        assert_eq!(report.events_applied, total as u64);
        assert_eq!(report.events_in_store, total as u64);
        assert_eq!(reported, total as u64);
    }
    assert_eq!(
        table_rows(&pool, "facts", "tenant, user_id, fact_id").await,
        live_facts
    );
    assert_eq!(
        table_rows(&pool, "user_favorite_summary", "tenant, user_id").await,
        live_summary
    );
    assert_eq!(
        daemon.catch_up().await.unwrap(),
        0,
        "the live daemon has nothing left to apply"
    );
}
