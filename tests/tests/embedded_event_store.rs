//! The embedded (SQLite) write side: the same commands and guarantees as on Postgres.

use std::sync::Arc;

use pika_commands::sqlite::{connect_sqlite, migrate_sqlite};
use pika_commands::{CommandError, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_tests::data_dir::TestDataDir;
use pika_tests::fixtures::{
    add, context, fifty_concurrent_adds, patient_retry, tenant, two_commits_of_five_events, user,
};
use pika_tests::kept_state;
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

async fn migrated(dir: &TestDataDir) -> SqlitePool {
    let pool = connect_sqlite(dir.path(), 4).await.unwrap();
    migrate_sqlite(&pool).await.unwrap();
    pool
}

async fn sequences(pool: &SqlitePool, aggregate_id: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT sequence FROM events WHERE aggregate_id = ? ORDER BY sequence")
        .bind(aggregate_id)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_commands_from_five_write_models_are_each_applied_once() {
    let dir = TestDataDir::new();
    let pool = migrated(&dir).await;
    // Five write models, each with its own pool on the one file, stand for five processes:
    // only the store's unique sequence and the retry loop keep them from losing an update.
    let mut models = Vec::new();
    for _ in 0..5 {
        let own_pool = connect_sqlite(dir.path(), 2).await.unwrap();
        models.push(Arc::new(WriteModel::sqlite(
            own_pool.clone(),
            std::sync::Arc::new(pika_tests::sqlite_data_keys(&own_pool)),
            patient_retry(),
        )));
    }
    let kid = user("kid-concurrent");
    fifty_concurrent_adds(&models, &kid).await;
    let memory = models[0].load_user_memory(&tenant(), &kid).await.unwrap();
    assert_eq!(memory.live_facts().len(), 50);
    let seqs = sequences(&pool, &user_memory_id(&tenant(), &kid)).await;
    assert_eq!(
        seqs,
        (1..=50).collect::<Vec<i64>>(),
        "no gap and no duplicate"
    );
    // The user was new to every writer: each made a key for its first commit, and the
    // commits that lost the race on the key row were retried with the winner's key.
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key_id FROM data_keys WHERE owner = ? AND scope = 'facts'")
            .bind(user_memory_id(&tenant(), &kid))
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(keys.len(), 1, "one facts key: {keys:?}");
    let sealed_with: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT json_extract(payload, '$.\"' || event_type || '\".sealed.key')
           FROM events WHERE aggregate_id = ?",
    )
    .bind(user_memory_id(&tenant(), &kid))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(sealed_with, keys, "every event sealed with the stored key");
}

#[tokio::test]
async fn positions_follow_commit_order_and_carry_the_commit_metadata() {
    let dir = TestDataDir::new();
    let pool = migrated(&dir).await;
    let model = WriteModel::sqlite(
        pool.clone(),
        std::sync::Arc::new(pika_tests::sqlite_data_keys(&pool)),
        RetryPolicy::default(),
    );
    let kid = user("kid-order");
    two_commits_of_five_events(&model, &kid).await;

    let rows = sqlx::query(
        "SELECT global_position, sequence, event_type, metadata FROM events
          ORDER BY global_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let positions: Vec<i64> = rows.iter().map(|r| r.get("global_position")).collect();
    let sequences: Vec<i64> = rows.iter().map(|r| r.get("sequence")).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    assert_eq!(sequences, [1, 2, 3, 4, 5]);
    let types: Vec<String> = rows.iter().map(|r| r.get("event_type")).collect();
    assert_eq!(types[3], "ExtractionApplied");
    let metadata: serde_json::Value =
        serde_json::from_str(&rows[0].get::<String, _>("metadata")).unwrap();
    assert_eq!(metadata["correlation_id"], "req-1");
    assert_eq!(metadata["actor"], "test");
}

#[tokio::test]
async fn a_rule_violation_is_rejected_and_writes_nothing() {
    let dir = TestDataDir::new();
    let pool = migrated(&dir).await;
    let model = WriteModel::sqlite(
        pool.clone(),
        std::sync::Arc::new(pika_tests::sqlite_data_keys(&pool)),
        RetryPolicy::default(),
    );
    let kid = user("kid-rules");
    let outcome = model
        .execute_user_memory(
            &tenant(),
            &kid,
            UserMemoryCommand::RetractFact {
                fact_id: FactId::generate(),
                note: None,
            },
            &context(),
        )
        .await;
    assert!(
        matches!(outcome, Err(CommandError::Rejected(_))),
        "{outcome:?}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_long_history_loads_from_its_snapshot_after_a_restart() {
    let dir = TestDataDir::new();
    let kid = user("kid-snapshot");
    let events = {
        let pool = migrated(&dir).await;
        let model = WriteModel::sqlite(
            pool.clone(),
            std::sync::Arc::new(pika_tests::sqlite_data_keys(&pool)),
            RetryPolicy::default(),
        );
        for n in 0..230 {
            model
                .execute_user_memory(&tenant(), &kid, add(&format!("toy {n}")), &context())
                .await
                .unwrap();
        }
        pool.close().await;
        230
    };

    let pool = migrated(&dir).await;
    let snapshot: (i64, i64) = sqlx::query_as(
        "SELECT last_sequence, current_snapshot FROM snapshots WHERE aggregate_id = ?",
    )
    .bind(user_memory_id(&tenant(), &kid))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(snapshot, (200, 2), "a snapshot every 100 events");
    let model = WriteModel::sqlite(
        pool.clone(),
        std::sync::Arc::new(pika_tests::sqlite_data_keys(&pool)),
        RetryPolicy::default(),
    );
    let memory = model.load_user_memory(&tenant(), &kid).await.unwrap();
    assert_eq!(
        memory.live_facts().len(),
        events,
        "snapshot plus the events after it"
    );
}

fn sqlite_model(pool: &SqlitePool) -> WriteModel {
    WriteModel::sqlite(
        pool.clone(),
        Arc::new(pika_tests::sqlite_data_keys(pool)),
        RetryPolicy::default(),
    )
}

#[tokio::test]
async fn a_kept_memory_reads_another_processes_commits() {
    let dir = TestDataDir::new();
    let ours = sqlite_model(&migrated(&dir).await);
    let theirs = sqlite_model(&connect_sqlite(dir.path(), 2).await.unwrap());
    kept_state::each_writer_sees_the_others_commits(&ours, &theirs).await;
    kept_state::a_refused_command_leaves_no_trace(&ours).await;
}

#[tokio::test]
async fn writers_taking_turns_across_snapshots_neither_lose_nor_repeat_a_commit() {
    let dir = TestDataDir::new();
    let pool = migrated(&dir).await;
    let ours = sqlite_model(&pool);
    let theirs = sqlite_model(&connect_sqlite(dir.path(), 2).await.unwrap());
    let kid = user("kid-turns");
    let total = kept_state::writers_take_turns_across_snapshots(&ours, &theirs, &kid).await;
    let id = user_memory_id(&tenant(), &kid);
    let expected: Vec<i64> = (1..=i64::try_from(total).unwrap()).collect();
    assert_eq!(sequences(&pool, &id).await, expected);
    let snapshot: (i64, i64) = sqlx::query_as(
        "SELECT last_sequence, current_snapshot FROM snapshots WHERE aggregate_id = ?",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(snapshot, (300, 3), "one snapshot per hundred events");
}
