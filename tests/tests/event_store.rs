//! The write side against real Postgres: concurrency, global order and conflict handling.

use std::sync::Arc;
use std::time::Duration;

use pika_commands::{CommandError, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::{EventLog, LogPosition, PostgresEventLog};
use pika_tests::fixtures::{
    add, context, fifty_concurrent_adds, patient_retry, tenant, two_commits_of_five_events, user,
};
use pika_tests::{TestDatabase, kept_state};
use sqlx::{PgPool, Row};

async fn sequences(pool: &PgPool, aggregate_id: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT sequence FROM events WHERE aggregate_id = $1 ORDER BY sequence")
        .bind(aggregate_id)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_commands_from_five_processes_are_each_applied_once() {
    let (database, pool) = TestDatabase::migrated().await;
    // Five write models with their own pools stand for five processes: within one process
    // commands on a user are serialised, across processes the event store's conflict check
    // and the retry loop must do the work.
    let mut models = Vec::new();
    for _ in 0..5 {
        let pool = database.pool(4).await;
        models.push(Arc::new(WriteModel::postgres(
            pool.clone(),
            pika_tests::pg_data_keys(&pool),
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
}

#[tokio::test]
async fn events_of_one_commit_share_a_transaction_and_positions_increase() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let kid = user("kid-order");
    two_commits_of_five_events(&model, &kid).await;

    let rows = sqlx::query(
        "SELECT transaction_id::text AS xid, global_position, event_type, metadata
           FROM events ORDER BY global_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 5);
    let xids: Vec<String> = rows.iter().map(|r| r.get("xid")).collect();
    let positions: Vec<i64> = rows.iter().map(|r| r.get("global_position")).collect();
    assert!(
        xids[..4].iter().all(|x| *x == xids[0]),
        "one commit, one transaction: {xids:?}"
    );
    assert!(xids[4].parse::<u64>().unwrap() > xids[0].parse::<u64>().unwrap());
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let types: Vec<String> = rows.iter().map(|r| r.get("event_type")).collect();
    assert_eq!(types[3], "ExtractionApplied");
    let metadata: serde_json::Value = rows[0].get("metadata");
    assert_eq!(metadata["correlation_id"], "req-1");
    assert_eq!(metadata["actor"], "test");
    assert!(metadata["time"].as_str().is_some_and(|t| t.contains('T')));
}

/// Begins a transaction that writes `sequence` of the user's aggregate and holds it open.
async fn hold_next_sequence(
    pool: &PgPool,
    kid: &UserId,
    sequence: i64,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let event = UserMemoryEvent::ExtractionApplied {
        job_id: JobId::generate(),
        counts: ExtractionCounts::default(),
    };
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('UserMemory', $1, $2, 'ExtractionApplied', '1.0', $3, '{}')",
    )
    .bind(user_memory_id(&tenant(), kid))
    .bind(sequence)
    .bind(serde_json::to_value(&event).unwrap())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_retried_with_fresh_state_and_reported_when_retries_run_out() {
    let (_database, pool) = TestDatabase::migrated().await;
    let kid = user("kid-conflict");
    let patient = Arc::new(WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    ));
    patient
        .execute_user_memory(&tenant(), &kid, add("first"), &context())
        .await
        .unwrap();

    // Another writer holds sequence 2; our command loads sequence 1, collides, retries.
    let other = hold_next_sequence(&pool, &kid, 2).await;
    let task = {
        let patient = patient.clone();
        let kid = kid.clone();
        tokio::spawn(async move {
            patient
                .execute_user_memory(&tenant(), &kid, add("second"), &context())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    other.commit().await.unwrap();
    task.await.unwrap().expect("retried after the conflict");
    assert_eq!(
        sequences(&pool, &user_memory_id(&tenant(), &kid)).await,
        vec![1, 2, 3]
    );

    // With one attempt only, the same collision is a clear error and writes nothing.
    let impatient = Arc::new(WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
    ));
    let other = hold_next_sequence(&pool, &kid, 4).await;
    let task = {
        let kid = kid.clone();
        tokio::spawn(async move {
            impatient
                .execute_user_memory(&tenant(), &kid, add("third"), &context())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    other.commit().await.unwrap();
    let error = task.await.unwrap().expect_err("no retries left");
    assert!(
        matches!(error, CommandError::Conflict { attempts: 1, .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("gave up after 1 attempts"),
        "{error}"
    );
    assert_eq!(
        sequences(&pool, &user_memory_id(&tenant(), &kid)).await,
        vec![1, 2, 3, 4]
    );
}

#[tokio::test]
async fn a_rule_violation_is_rejected_and_writes_nothing() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let kid = user("kid-rejected");
    let missing = FactId::generate();
    let retract = UserMemoryCommand::RetractFact {
        fact_id: missing,
        note: None,
    };
    let error = model
        .execute_user_memory(&tenant(), &kid, retract, &context())
        .await
        .expect_err("unknown fact");
    assert!(
        matches!(error, CommandError::Rejected(UserMemoryError::FactNotFound(id)) if id == missing)
    );
    assert!(
        sequences(&pool, &user_memory_id(&tenant(), &kid))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn tenants_never_share_an_aggregate() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let kid = user("same-user-id");
    let other = TenantId::parse("other").unwrap();
    model
        .execute_user_memory(&tenant(), &kid, add("kites"), &context())
        .await
        .unwrap();
    let theirs = model.load_user_memory(&other, &kid).await.unwrap();
    assert!(theirs.live_facts().is_empty());
}

/// Reads after `after` until at least `count` events are safe to read, for at most ten seconds.
async fn read_at_least(
    log: &PostgresEventLog,
    after: LogPosition,
    count: usize,
) -> Vec<pika_projections::RecordedEvent> {
    for _ in 0..500 {
        let events = log.read_after(after, 100).await.unwrap();
        if events.len() >= count {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{count} events never became safe to read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_reader_never_passes_an_event_whose_transaction_is_still_open() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let log = PostgresEventLog::new(pool.clone(), pika_tests::pg_data_keys(&pool));
    let slow = user("kid-slow");
    model
        .execute_user_memory(&tenant(), &slow, add("first"), &context())
        .await
        .unwrap();

    // Writer A takes the next global position and holds its transaction open...
    let writer_a = hold_next_sequence(&pool, &slow, 2).await;
    // ...while writer B commits a later position.
    model
        .execute_user_memory(&tenant(), &user("kid-fast"), add("x"), &context())
        .await
        .unwrap();

    // A transaction open anywhere in the cluster (another test's) may hold the safe tail back
    // for a moment, so wait for what must become readable; what must not, never may.
    let before = read_at_least(&log, LogPosition::default(), 1).await;
    assert_eq!(
        before.len(),
        1,
        "only the event before A's open transaction is safe to read"
    );
    let checkpoint = before[0].position;
    assert!(log.read_after(checkpoint, 100).await.unwrap().is_empty());

    writer_a.commit().await.unwrap();
    let after = read_at_least(&log, checkpoint, 2).await;
    let order: Vec<(&str, i64)> = after
        .iter()
        .map(|e| (e.aggregate_id.as_str(), e.position.global_position))
        .collect();
    assert_eq!(after.len(), 2, "{order:?}");
    assert_eq!(after[0].aggregate_id, user_memory_id(&tenant(), &slow));
    assert_eq!(
        after[1].aggregate_id,
        user_memory_id(&tenant(), &user("kid-fast"))
    );
    assert!(after[0].position.global_position < after[1].position.global_position);
    assert_eq!(log.count_after(after[1].position).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_open_in_another_database_does_not_hold_the_log_back() {
    let (_database, pool) = TestDatabase::migrated().await;
    let (_elsewhere, elsewhere_pool) = TestDatabase::migrated().await;
    // Another database of the same server (another service, a migration) holds a write open
    // for the whole test...
    let elsewhere = hold_next_sequence(&elsewhere_pool, &user("kid-elsewhere"), 1).await;
    // ...while this database commits after it.
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    model
        .execute_user_memory(&tenant(), &user("kid-here"), add("x"), &context())
        .await
        .unwrap();
    let log = PostgresEventLog::new(pool.clone(), pika_tests::pg_data_keys(&pool));
    let events = read_at_least(&log, LogPosition::default(), 1).await;
    assert_eq!(events.len(), 1);
    elsewhere.rollback().await.unwrap();
}

fn postgres_model(pool: &PgPool) -> WriteModel {
    WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(pool),
        RetryPolicy::default(),
    )
}

#[tokio::test]
async fn a_kept_memory_reads_another_processes_commits() {
    let (database, _pool) = TestDatabase::migrated().await;
    let ours = postgres_model(&database.pool(2).await);
    let theirs = postgres_model(&database.pool(2).await);
    kept_state::each_writer_sees_the_others_commits(&ours, &theirs).await;
    kept_state::a_refused_command_leaves_no_trace(&ours).await;
}

#[tokio::test]
async fn writers_taking_turns_across_snapshots_neither_lose_nor_repeat_a_commit() {
    let (database, pool) = TestDatabase::migrated().await;
    let ours = postgres_model(&database.pool(2).await);
    let theirs = postgres_model(&database.pool(2).await);
    let kid = user("kid-turns");
    let total = kept_state::writers_take_turns_across_snapshots(&ours, &theirs, &kid).await;
    let id = user_memory_id(&tenant(), &kid);
    let expected: Vec<i64> = (1..=i64::try_from(total).unwrap()).collect();
    assert_eq!(sequences(&pool, &id).await, expected);
    let snapshot: (i64, i64) = sqlx::query_as(
        "SELECT last_sequence::bigint, current_snapshot::bigint FROM snapshots WHERE aggregate_id = $1",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(snapshot, (300, 3), "one snapshot per hundred events");
}
