//! The projection daemon and the read side against real Postgres.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pika_commands::{CommandContext, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::ReadStore;
use pika_projections::decode::DomainEvent;
use pika_projections::postgres::PostgresReadStore;
use pika_projections::projection::FactsProjection;
use pika_projections::writes::ReadModelWrites;
use pika_projections::{
    DaemonSettings, EventLog, LogPosition, PostgresEventLog, Projection, ProjectionDaemon,
    ProjectionError, RecordedEvent, TableSet, all_projections,
};
use pika_tests::TestDatabase;
use sqlx::PgPool;
use tokio::sync::watch;

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn candidate(key: &str, value: &str) -> FactCandidate {
    FactCandidate {
        key: FactKey::parse(key).unwrap(),
        value: FactValue::parse(value).unwrap(),
        text: FactText::parse(&format!("{key}: {value}")).unwrap(),
        confidence: Confidence::new(0.9).unwrap(),
        language: Language::parse("vi").unwrap(),
        source: FactSource::default(),
    }
}

fn context() -> CommandContext {
    CommandContext::new("req-test", "test")
}

fn fast_settings() -> DaemonSettings {
    DaemonSettings {
        batch_size: 100,
        poll_interval: Duration::from_millis(50),
        claim_interval: Duration::from_millis(100),
    }
}

/// Waits until `count` events lie below the oldest running transaction of the cluster.
async fn readable_events(pool: &PgPool, count: usize) {
    let log = PostgresEventLog::new(pool.clone(), pika_tests::pg_data_keys(pool));
    for _ in 0..500 {
        let events = log.read_after(LogPosition::default(), 1_000).await.unwrap();
        if events.len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{count} events never became readable");
}

fn daemon(pool: &PgPool, projections: Vec<Arc<dyn Projection>>) -> Arc<ProjectionDaemon> {
    Arc::new(ProjectionDaemon::new(
        pool.clone(),
        Arc::new(PostgresEventLog::new(
            pool.clone(),
            pika_tests::pg_data_keys(pool),
        )),
        projections,
        fast_settings(),
    ))
}

/// Runs a daemon in the background; dropping the sender stops it.
fn start(daemon: Arc<ProjectionDaemon>) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(daemon.run(stopped));
    (stop, task)
}

async fn checkpoint(pool: &PgPool, projection: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT global_position, events_applied FROM projection_checkpoints WHERE projection = $1",
    )
    .bind(projection)
    .fetch_optional(pool)
    .await
    .unwrap()
    .unwrap_or((0, 0))
}

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn add(model: &WriteModel, kid: &UserId, key: &str, value: &str) -> FactId {
    let fact_id = FactId::generate();
    let command = UserMemoryCommand::AddFact {
        fact_id,
        candidate: candidate(key, value),
    };
    model
        .execute_user_memory(&tenant(), kid, command, &context())
        .await
        .unwrap();
    fact_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_waits_for_a_slow_transaction_and_then_applies_both_in_order() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let (stop, task) = start(daemon(&pool, vec![Arc::new(FactsProjection)]));
    let slow = user("kid-slow");
    add(&model, &slow, "name", "Minh").await;
    eventually("the first fact", async || {
        live_facts(&pool, &tenant(), &slow).await.unwrap().len() == 1
    })
    .await;

    // Writer A takes position N and holds its transaction open.
    let fact_a = FactId::generate();
    let payload = serde_json::to_value(UserMemoryEvent::FactAdded {
        fact_id: fact_a,
        key: FactKey::parse("pet.dog").unwrap(),
        kind: FactKind::Relationship,
        value: FactValue::parse("Milu").unwrap(),
        text: FactText::parse("has a dog called Milu").unwrap(),
        confidence: Confidence::CERTAIN,
        language: Language::parse("vi").unwrap(),
        source: FactSource::default(),
    })
    .unwrap();
    let mut writer_a = pool.begin().await.unwrap();
    let position_a: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('UserMemory', $1, 2, 'FactAdded', '1.0', $2, '{}') RETURNING global_position",
    )
    .bind(user_memory_id(&tenant(), &slow))
    .bind(payload)
    .fetch_one(&mut *writer_a)
    .await
    .unwrap();

    // Writer B commits N+1.
    let fast = user("kid-fast");
    add(&model, &fast, "pet.cat", "Mochi").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (position, _) = checkpoint(&pool, "facts").await;
    assert!(
        position < position_a,
        "the daemon passed N={position_a} while its transaction was open (at {position})"
    );
    assert!(
        live_facts(&pool, &tenant(), &fast)
            .await
            .unwrap()
            .is_empty()
    );

    writer_a.commit().await.unwrap();
    eventually("both facts", async || {
        live_facts(&pool, &tenant(), &slow).await.unwrap().len() == 2
            && live_facts(&pool, &tenant(), &fast).await.unwrap().len() == 1
    })
    .await;
    let (position, applied) = checkpoint(&pool, "facts").await;
    assert!(position > position_a);
    assert_eq!(applied, event_count(&pool).await);
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// Writes its rows like the facts projection, then fails on the given fact value: stands for
/// a crash between the row writes and the commit.
struct CrashingFacts {
    crash_on: &'static str,
}

#[async_trait]
impl Projection for CrashingFacts {
    fn name(&self) -> &'static str {
        "facts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["facts"]
    }

    async fn apply(
        &self,
        writes: &mut dyn ReadModelWrites,
        tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<pika_projections::ChangedUser>, ProjectionError> {
        let changed = FactsProjection
            .apply(writes, tables, event, decoded)
            .await?;
        if event.payload.to_string().contains(self.crash_on) {
            return Err(ProjectionError::corrupt(event, "simulated crash"));
        }
        Ok(changed)
    }
}

#[tokio::test]
async fn a_batch_aborted_before_commit_leaves_nothing_and_is_applied_once_on_restart() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let kid = user("kid-crash");
    add(&model, &kid, "name", "Lan").await;
    add(&model, &kid, "pet.dog", "Max").await;
    add(&model, &kid, "likes.food", "phở").await;
    // Another test's open transaction (any database of the cluster) holds the safe tail back;
    // the crash must meet the third event, so wait until all three are readable.
    readable_events(&pool, 3).await;

    let crashing = daemon(&pool, vec![Arc::new(CrashingFacts { crash_on: "phở" })]);
    let error = crashing.catch_up().await.expect_err("the batch fails");
    assert!(error.to_string().contains("simulated crash"));
    assert!(
        live_facts(&pool, &tenant(), &kid).await.unwrap().is_empty(),
        "no row survives"
    );
    assert_eq!(
        checkpoint(&pool, "facts").await,
        (0, 0),
        "checkpoint unchanged"
    );

    let healthy = daemon(&pool, vec![Arc::new(FactsProjection)]);
    assert_eq!(healthy.catch_up().await.unwrap(), 3);
    assert_eq!(
        healthy.catch_up().await.unwrap(),
        0,
        "nothing is applied twice"
    );
    let facts = live_facts(&pool, &tenant(), &kid).await.unwrap();
    assert_eq!(facts.len(), 3);
    assert_eq!(checkpoint(&pool, "facts").await.1, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_apply_each_event_once_and_one_takes_over_when_the_other_dies() {
    let (database, pool) = TestDatabase::migrated().await;
    let model = Arc::new(WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    ));
    let first_pool = database.pool(4).await;
    let second_pool = database.pool(4).await;
    let (_stop_first, first) = start(daemon(&first_pool, all_projections()));
    let (stop_second, second) = start(daemon(&second_pool, all_projections()));

    let writer = {
        let model = model.clone();
        tokio::spawn(async move {
            for n in 0..60 {
                let kid = user(&format!("kid-{}", n % 6));
                add(&model, &kid, "likes.thing", &format!("thing {n}")).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.abort(); // dies without a goodbye: its claim connections close with it
    let _ = first.await;
    drop(first_pool);
    writer.await.unwrap();

    let total = event_count(&pool).await;
    for projection in ["facts", "user_favorite_summary", "extraction_jobs"] {
        eventually(projection, async || {
            checkpoint(&pool, projection).await.1 == total
        })
        .await;
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM facts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 60);
    let summed: i64 =
        sqlx::query_scalar("SELECT sum(live_facts)::bigint FROM user_favorite_summary")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(summed, 60, "every event counted once in the summary");
    stop_second.send(true).unwrap();
    second.await.unwrap();
}

#[tokio::test]
async fn a_fact_history_lists_every_version_and_as_of_returns_the_value_of_the_time() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let kid = user("kid-history");
    let pause = Duration::from_millis(30);
    let fact = add(&model, &kid, "favorite.food", "phở").await;
    tokio::time::sleep(pause).await;
    add(&model, &kid, "favorite.food", "bún chả").await;
    tokio::time::sleep(pause).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(pause).await;
    add(&model, &kid, "favorite.food", "cơm tấm").await;
    tokio::time::sleep(pause).await;
    let retract = UserMemoryCommand::RetractFact {
        fact_id: fact,
        note: Some("asked by parent".into()),
    };
    model
        .execute_user_memory(&tenant(), &kid, retract, &context())
        .await
        .unwrap();

    let history = fact_history(&pool, &tenant(), fact.as_uuid())
        .await
        .unwrap()
        .unwrap();
    let steps: Vec<(&str, &str)> = history
        .versions
        .iter()
        .map(|v| (v.event.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("FactAdded", "phở"),
            ("FactUpdated", "bún chả"),
            ("FactUpdated", "cơm tấm"),
            ("FactRetracted", "cơm tấm")
        ]
    );
    assert_eq!(history.versions[1].old_value.as_deref(), Some("phở"));
    assert_eq!(history.versions[0].actor.as_deref(), Some("test"));
    assert!(history.versions.windows(2).all(|w| w[0].at <= w[1].at));

    let then = facts_as_of(&pool, &tenant(), &kid, between).await.unwrap();
    assert_eq!(then.len(), 1);
    assert_eq!(then[0].value, "bún chả");
    assert!(
        facts_as_of(&pool, &tenant(), &kid, chrono::Utc::now())
            .await
            .unwrap()
            .is_empty()
    );

    let other = TenantId::parse("other").unwrap();
    assert!(
        fact_history(&pool, &other, fact.as_uuid())
            .await
            .unwrap()
            .is_none(),
        "tenant scoped"
    );
}

/// Fails every event, counting its attempts: a read model whose store is down.
struct AlwaysFailing {
    attempts: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl Projection for AlwaysFailing {
    fn name(&self) -> &'static str {
        "always_failing"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    async fn apply(
        &self,
        _: &mut dyn ReadModelWrites,
        _: TableSet,
        event: &RecordedEvent,
        _: &DomainEvent,
    ) -> Result<Option<pika_projections::ChangedUser>, ProjectionError> {
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(ProjectionError::corrupt(event, "its store is down"))
    }
}

/// A failing projection retries at its backoff, not each time a new event (or another
/// projection's progress) wakes it: under a steady write rate that was one attempt, and one
/// warning, per event for as long as the outage lasted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_projection_waits_out_its_backoff_while_events_keep_coming() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failing = Arc::new(AlwaysFailing {
        attempts: attempts.clone(),
    });
    let (stop, task) = start(daemon(&pool, vec![Arc::new(FactsProjection), failing]));
    let kid = user("kid-backoff");
    // 60 events over about 1.5 s, each applied by the facts projection (which wakes the
    // others) and announced by NOTIFY.
    for n in 0..60 {
        add(&model, &kid, "likes.thing", &format!("thing {n}")).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let attempted = attempts.load(std::sync::atomic::Ordering::SeqCst);
    // Backoffs of 200, 400, 800 ms…: at most a handful of attempts in that time.
    assert!(attempted <= 6, "{attempted} attempts");
    eventually("the failing projection", async || {
        attempts.load(std::sync::atomic::Ordering::SeqCst) > 0
    })
    .await;
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// The daemon's batch read walks `events_tail` in order and stops at the limit: no sort of
/// every event after the checkpoint (which, with parallel workers, cost ~35 ms a batch at
/// 170,000 events and slowed the live daemon as the log grew).
#[tokio::test]
async fn the_batch_read_walks_the_tail_index_without_sorting() {
    let (_database, pool) = TestDatabase::migrated().await;
    let mut connection = pool.acquire().await.unwrap();
    // Whatever the table's size (empty here), the plan the index allows: an index scan in
    // order, unless the order asked for is one the index cannot give.
    for setting in ["SET enable_seqscan = off", "SET enable_bitmapscan = off"] {
        sqlx::query(setting)
            .execute(&mut *connection)
            .await
            .unwrap();
    }
    let sql = pika_projections::event_log::read_after_sql()
        .replace("$1", "'0'")
        .replace("$2", "0")
        .replace("$3", "100");
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}"))
        .fetch_all(&mut *connection)
        .await
        .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("Index Scan using events_tail"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
}

fn reads(pool: &PgPool) -> PostgresReadStore {
    PostgresReadStore::new(pool.clone(), pika_tests::pg_data_keys(pool))
}

async fn live_facts(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Vec<pika_projections::fact_record::FactRecord>, ProjectionError> {
    reads(pool).live_facts(tenant, user).await
}

async fn fact_history(
    pool: &PgPool,
    tenant: &TenantId,
    fact_id: uuid::Uuid,
) -> Result<Option<pika_projections::history::FactHistory>, ProjectionError> {
    reads(pool).fact_history(tenant, fact_id).await
}

async fn facts_as_of(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    as_of: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<pika_projections::fact_record::FactRecord>, ProjectionError> {
    reads(pool).facts_as_of(tenant, user, as_of).await
}
