//! Extraction jobs end to end against real Postgres and RabbitMQ.

use std::sync::Arc;
use std::time::Duration;

use pika_commands::{CommandContext, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::jobs::JobMessage;
use pika_tests::fixtures::candidate;
use pika_tests::{
    TEST_API_SECRET, TEST_TENANT, TcpProxy, TestApp, TestDatabase, amqp_url, host_port,
    through_port,
};
use pika_worker::amqp::{AmqpJobQueue, Outgoing};
use pika_worker::runner::{ExtractionWorker, Outcome, WorkerPolicy};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

fn pets() -> Value {
    json!([
        {"role": "user", "content": "I have a cat named Mochi."},
        {"role": "assistant", "content": "Mochi is a cute name!"},
        {"role": "user", "content": "We also have a dog called Max."}
    ])
}

async fn submit(app: &TestApp, body: Value, key: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/v1/extractions"))
        .bearer_auth(TEST_API_SECRET)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn job(app: &TestApp, job_id: &str, wait: u32) -> Value {
    app.job(job_id, wait).await
}

async fn facts(app: &TestApp, user: &str) -> Vec<Value> {
    let body: Value = app.get_json(&format!("/v1/users/{user}/facts")).await;
    body["facts"].as_array().cloned().unwrap_or_default()
}

fn key_values(facts: &[Value]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = facts
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap().to_owned(),
                f["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_conversation_becomes_facts_with_their_source() {
    let app = TestApp::spawn().await;
    let (status, accepted) =
        submit(&app, json!({"user_id": "kid-1", "messages": pets()}), None).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    let job_id = accepted["job_id"].as_str().unwrap().to_owned();

    let done = job(&app, &job_id, 20).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["added"], 2);
    assert_eq!(done["attempts"], 1);

    let facts = facts(&app, "kid-1").await;
    assert_eq!(
        key_values(&facts),
        [
            ("pet.cat".to_owned(), "Mochi".to_owned()),
            ("pet.dog".to_owned(), "Max".to_owned())
        ]
    );
    for fact in &facts {
        assert_eq!(fact["source"]["job_id"], job_id.as_str());
        assert!(
            !fact["source"]["message_indexes"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_job() {
    let app = TestApp::spawn().await;
    let body = json!({"user_id": "kid-2", "messages": pets()});
    let (_, first) = submit(&app, body.clone(), Some("conv-42")).await;
    let (status, again) = submit(&app, body.clone(), Some("conv-42")).await;
    assert_eq!(status, 202);
    assert_eq!(first["job_id"], again["job_id"]);
    let (_, other) = submit(&app, body, Some("conv-43")).await;
    assert_ne!(first["job_id"], other["job_id"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_submissions_get_clear_problems_and_create_nothing() {
    let app = TestApp::spawn().await;
    let too_many: Vec<Value> = (0..201)
        .map(|_| json!({"role": "user", "content": "hi"}))
        .collect();
    let cases = [
        (json!({"user_id": "kid", "messages": too_many}), 422),
        (
            json!({"user_id": "kid", "messages": [{"role": "user", "content": "x".repeat(8001)}]}),
            422,
        ),
        (json!({"user_id": "kid", "messages": []}), 422),
        (json!({"user_id": "bad id", "messages": pets()}), 422),
        (
            json!({"user_id": "kid", "messages": pets(), "colour": "blue"}),
            422,
        ),
        (
            json!({"user_id": "kid", "messages": [{"role": "robot", "content": "hi"}]}),
            422,
        ),
    ];
    for (body, expected) in cases {
        let (status, problem) = submit(&app, body, None).await;
        assert_eq!(status, expected, "{problem}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{problem}"
        );
    }
    let url = app.url("/v1/extractions");
    let raw = |body: String, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(TEST_API_SECRET)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let malformed = raw("{\"user_id\": ".into(), "application/json")
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        raw("user_id=kid".into(), "text/plain")
            .await
            .unwrap()
            .status(),
        415
    );
    let huge = format!(
        "{{\"user_id\": \"kid\", \"messages\": [], \"metadata\": \"{}\"}}",
        "x".repeat(1_100_000)
    );
    assert_eq!(raw(huge, "application/json").await.unwrap().status(), 413);
    let pool = app.database.pool(1).await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 0, "nothing was written");
    app.stop().await;
}

fn worker(write_model: Arc<WriteModel>) -> ExtractionWorker {
    let extractor = pika_worker::extractor_for(&pika_worker::ExtractorSettings::Rules).unwrap();
    ExtractionWorker::new(write_model, extractor, WorkerPolicy::default())
}

async fn submitted_job(model: &WriteModel, user: &str) -> (TenantId, JobId) {
    let tenant = TenantId::parse(TEST_TENANT).unwrap();
    let job_id = JobId::generate();
    let conversation = Conversation::new(vec![
        ChatMessage::new(Role::User, "I have a dog called Max.").unwrap(),
    ])
    .unwrap();
    let submit = ExtractionJobCommand::Submit {
        tenant: tenant.clone(),
        user_id: UserId::parse(user).unwrap(),
        conversation,
        metadata: Value::Null,
        idempotency_key: None,
        extract_facts: true,
    };
    model
        .execute_extraction_job(&tenant, &job_id, submit, &CommandContext::new("t", "test"))
        .await
        .unwrap();
    (tenant, job_id)
}

fn message(tenant: &TenantId, job_id: JobId) -> Vec<u8> {
    serde_json::to_vec(&JobMessage {
        tenant: tenant.to_string(),
        job_id: job_id.as_uuid(),
        user_id: None,
    })
    .unwrap()
}

#[tokio::test]
async fn a_message_delivered_twice_applies_its_facts_once() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = Arc::new(WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    ));
    let worker = worker(model.clone());
    let (tenant, job_id) = submitted_job(&model, "kid-twice").await;
    assert_eq!(
        worker.process(&message(&tenant, job_id), 0).await,
        Outcome::Completed
    );
    assert_eq!(
        worker.process(&message(&tenant, job_id), 0).await,
        Outcome::Duplicate
    );
    let memory = model
        .load_user_memory(&tenant, &UserId::parse("kid-twice").unwrap())
        .await
        .unwrap();
    assert_eq!(memory.live_facts().len(), 1);
    let job = model.load_extraction_job(&tenant, &job_id).await.unwrap();
    assert_eq!((job.status(), job.attempts()), (JobStatus::Completed, 1));
}

#[tokio::test]
async fn a_job_whose_worker_died_before_acking_completes_once_on_redelivery() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = Arc::new(WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    ));
    let (tenant, job_id) = submitted_job(&model, "kid-crash").await;
    let queue = AmqpJobQueue::new(amqp_url(), &pika_tests::unique_prefix());
    queue
        .publish_to(
            &queue.names().work,
            &message(&tenant, job_id),
            Outgoing::default(),
        )
        .await
        .unwrap();

    // A first worker takes the message, starts the job, and dies with its connection.
    let (connection, mut consumer) = queue.consume(1, "doomed").await.unwrap();
    let delivery = futures_next(&mut consumer).await;
    assert!(!delivery.redelivered);
    model
        .execute_extraction_job(
            &tenant,
            &job_id,
            ExtractionJobCommand::Start,
            &CommandContext::new("t", "worker"),
        )
        .await
        .unwrap();
    drop(consumer);
    connection.close(320, "killed".into()).await.ok();

    // The broker redelivers to the next worker, which completes the job once.
    let (_connection, mut consumer) = queue.consume(1, "survivor").await.unwrap();
    let delivery = futures_next(&mut consumer).await;
    assert!(delivery.redelivered);
    assert_eq!(
        worker(model.clone()).process(&delivery.data, 0).await,
        Outcome::Completed
    );
    delivery
        .ack(lapin::options::BasicAckOptions::default())
        .await
        .unwrap();
    let job = model.load_extraction_job(&tenant, &job_id).await.unwrap();
    assert_eq!((job.status(), job.attempts()), (JobStatus::Completed, 2));
    let memory = model
        .load_user_memory(&tenant, &UserId::parse("kid-crash").unwrap())
        .await
        .unwrap();
    assert_eq!(memory.live_facts().len(), 1);
}

/// A pool to the test database through `proxy`, which fails fast while the proxy is cut.
async fn pool_through(database: &TestDatabase, proxy: &TcpProxy) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500))
        .connect(&through_port(&database.url, proxy.port))
        .await
        .unwrap()
}

/// A submitted job, and a worker that reaches the database through a proxy the test cuts.
struct Outage {
    _database: TestDatabase,
    model: Arc<WriteModel>,
    tenant: TenantId,
    job_id: JobId,
    proxy: TcpProxy,
    worker: ExtractionWorker,
    payload: Vec<u8>,
}

impl Outage {
    async fn of(kid: &str) -> Self {
        let (database, pool) = TestDatabase::migrated().await;
        let model = Arc::new(WriteModel::postgres(
            pool.clone(),
            pika_tests::pg_data_keys(&pool),
            RetryPolicy::default(),
        ));
        let (tenant, job_id) = submitted_job(&model, kid).await;
        let proxy = TcpProxy::start(&host_port(&database.url), true).await;
        let through_pool = pool_through(&database, &proxy).await;
        let through = WriteModel::postgres(
            through_pool.clone(),
            pika_tests::pg_data_keys(&through_pool),
            RetryPolicy::default(),
        );
        Self {
            worker: worker(Arc::new(through)),
            payload: message(&tenant, job_id),
            _database: database,
            model,
            tenant,
            job_id,
            proxy,
        }
    }
}

#[tokio::test]
async fn a_job_whose_deliveries_run_out_while_postgres_is_down_ends_dead_lettered() {
    let outage = Outage::of("kid-outage").await;
    let last_delivery = WorkerPolicy::default().max_deliveries - 1;

    outage.proxy.cut();
    let early = outage.worker.process(&outage.payload, 0).await;
    assert!(
        matches!(early, Outcome::Retry { attempt: 1, .. }),
        "{early:?}"
    );
    // Failures of the database are not the job's: past its attempt limit, it is still retried.
    let past_the_job_limit = WorkerPolicy::default().max_attempts;
    let later = outage
        .worker
        .process(&outage.payload, past_the_job_limit)
        .await;
    assert!(
        matches!(later, Outcome::Retry { attempt, .. } if attempt == past_the_job_limit + 1),
        "{later:?}"
    );
    // The last delivery gives up but cannot record that: the message waits, it is not dropped.
    let last = outage.worker.process(&outage.payload, last_delivery).await;
    let Outcome::Retry { attempt, .. } = last else {
        panic!("the message must wait for the database: {last:?}");
    };
    let job = outage
        .model
        .load_extraction_job(&outage.tenant, &outage.job_id)
        .await
        .unwrap();
    assert_eq!(job.status(), JobStatus::Queued);

    outage.proxy.restore();
    let after = outage.worker.process(&outage.payload, attempt).await;
    let Outcome::DeadLetter { reason } = &after else {
        panic!("the job is given up on once the database is back: {after:?}");
    };
    assert!(reason.contains("gave up after 100 deliveries"), "{reason}");
    let job = outage
        .model
        .load_extraction_job(&outage.tenant, &outage.job_id)
        .await
        .unwrap();
    assert_eq!(
        (job.status(), job.attempts()),
        (JobStatus::DeadLettered, 0),
        "recorded on the job, which never ran"
    );
}

#[tokio::test]
async fn a_job_that_outlived_its_attempts_in_a_database_outage_completes_once_it_is_back() {
    let outage = Outage::of("kid-long-outage").await;

    outage.proxy.cut();
    let mut delivery = 0;
    while delivery <= WorkerPolicy::default().max_attempts {
        let Outcome::Retry { attempt, .. } = outage.worker.process(&outage.payload, delivery).await
        else {
            panic!("a delivery during the outage waits for the database");
        };
        delivery = attempt;
    }
    outage.proxy.restore();
    assert_eq!(
        outage.worker.process(&outage.payload, delivery).await,
        Outcome::Completed
    );
    let job = outage
        .model
        .load_extraction_job(&outage.tenant, &outage.job_id)
        .await
        .unwrap();
    assert_eq!((job.status(), job.attempts()), (JobStatus::Completed, 1));
}

/// Fills the user's memory up to the limit of live facts, in extractions as large as allowed.
async fn fill_memory(model: &WriteModel, tenant: &TenantId, user: &UserId) {
    let batches = UserMemory::MAX_LIVE_FACTS / UserMemory::MAX_OPERATIONS;
    for batch in 0..batches {
        let operations = (0..UserMemory::MAX_OPERATIONS)
            .map(|n| FactOperation::Add {
                fact_id: FactId::generate(),
                candidate: candidate(&format!("note.n{batch}_{n}"), "kept"),
            })
            .collect();
        let apply = UserMemoryCommand::ApplyExtraction {
            job_id: JobId::generate(),
            operations,
        };
        model
            .execute_user_memory(tenant, user, apply, &CommandContext::new("t", "test"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_job_a_domain_rule_refuses_is_dead_lettered_at_once_with_the_rules_reason() {
    let (_database, pool) = TestDatabase::migrated().await;
    let model = Arc::new(WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    ));
    let (tenant, job_id) = submitted_job(&model, "kid-full").await;
    let user = UserId::parse("kid-full").unwrap();
    fill_memory(&model, &tenant, &user).await;

    let outcome = worker(model.clone())
        .process(&message(&tenant, job_id), 0)
        .await;
    let Outcome::DeadLetter { reason } = &outcome else {
        panic!("a full memory stays full: no retry can help ({outcome:?})");
    };
    assert!(reason.contains("at most 10000 live facts"), "{reason}");
    let job = model.load_extraction_job(&tenant, &job_id).await.unwrap();
    assert_eq!((job.status(), job.attempts()), (JobStatus::DeadLettered, 1));
    let memory = model.load_user_memory(&tenant, &user).await.unwrap();
    assert_eq!(memory.live_facts().len(), UserMemory::MAX_LIVE_FACTS);
}

async fn futures_next(consumer: &mut lapin::Consumer) -> lapin::message::Delivery {
    use futures::StreamExt;
    tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("a delivery within 10 s")
        .expect("the consumer is open")
        .expect("a delivery")
}

async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let body = app.metrics_text().await;
    body.lines()
        .filter(|line| line.starts_with(line_start))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_job_messages_are_dead_lettered_once() {
    let app = TestApp::spawn().await;
    let queue = AmqpJobQueue::new(amqp_url(), &app.prefix);
    let unknown = serde_json::to_vec(&JobMessage {
        tenant: TEST_TENANT.into(),
        job_id: uuid::Uuid::now_v7(),
        user_id: None,
    })
    .unwrap();
    for payload in [b"not json at all".to_vec(), unknown] {
        queue
            .publish_to(&queue.names().work, &payload, Outgoing::default())
            .await
            .unwrap();
    }
    for _ in 0..100 {
        if queue.message_count(&queue.names().dead).await.unwrap() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        queue.message_count(&queue.names().dead).await.unwrap(),
        2,
        "each once"
    );
    assert_eq!(
        queue.message_count(&queue.names().work).await.unwrap(),
        0,
        "no redelivery loop"
    );
    assert_eq!(queue.message_count(&queue.names().retry).await.unwrap(), 0);
    assert!(metric(&app, "pika_jobs_total{outcome=\"dead_lettered\"}").await >= 2.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_accepted_while_rabbitmq_is_unreachable_completes_when_it_returns() {
    let proxy = TcpProxy::start(&host_port(&amqp_url()), false).await;
    let app = TestApp::spawn_with(|settings| {
        settings.insert(
            "PIKA_AMQP_URL".into(),
            through_port(&amqp_url(), proxy.port),
        );
    })
    .await;
    let (status, accepted) = submit(
        &app,
        json!({"user_id": "kid-offline", "messages": pets()}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let job_id = accepted["job_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(job(&app, &job_id, 0).await["status"], "queued");

    proxy.restore();
    let done = job(&app, &job_id, 30).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(facts(&app, "kid-offline").await.len(), 2);
    app.stop().await;
}
