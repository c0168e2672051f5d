//! The embedded job queue against a real SQLite file: the broker path's outcomes (complete,
//! retry after a backoff, dead-letter with the reason), and nothing lost across a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pika_commands::sqlite::{connect_sqlite, migrate_sqlite};
use pika_commands::{Backoff, CommandContext, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_projections::jobs::{JobMessage, JobPublisher};
use pika_tests::data_dir::TestDataDir;
use pika_worker::extraction::{Candidate, ExtractionError, Extractor};
use pika_worker::local_queue::{LocalJobQueue, QueueDepth};
use pika_worker::runner::{ExtractionWorker, WorkerPolicy};
use serde_json::Value;
use tokio::sync::watch;

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn fast_policy() -> WorkerPolicy {
    WorkerPolicy {
        max_attempts: 3,
        max_deliveries: 3,
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        concurrency: 2,
    }
}

/// Fails transiently the first `failures` times, then extracts with the rules.
struct FlakyExtractor {
    failures: u32,
    calls: AtomicU32,
}

#[async_trait]
impl Extractor for FlakyExtractor {
    async fn extract(
        &self,
        conversation: &Conversation,
    ) -> Result<Vec<Candidate>, ExtractionError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(ExtractionError::Transient("the model timed out".into()));
        }
        let rules = pika_worker::extractor_for(&pika_worker::ExtractorSettings::Rules).unwrap();
        rules.extract(conversation).await
    }
}

struct Embedded {
    model: Arc<WriteModel>,
    queue: Arc<LocalJobQueue>,
}

async fn open(dir: &TestDataDir) -> Embedded {
    let pool = connect_sqlite(dir.path(), 4).await.unwrap();
    migrate_sqlite(&pool).await.unwrap();
    Embedded {
        model: Arc::new(WriteModel::sqlite(
            pool.clone(),
            std::sync::Arc::new(pika_tests::sqlite_data_keys(&pool)),
            RetryPolicy::default(),
        )),
        queue: Arc::new(LocalJobQueue::new(pool)),
    }
}

async fn submit(embedded: &Embedded, user: &str, says: &str) -> JobId {
    let job_id = JobId::generate();
    let conversation =
        Conversation::new(vec![ChatMessage::new(Role::User, says).unwrap()]).unwrap();
    let submit = ExtractionJobCommand::Submit {
        tenant: tenant(),
        user_id: UserId::parse(user).unwrap(),
        conversation,
        metadata: Value::Null,
        idempotency_key: None,
        extract_facts: true,
    };
    embedded
        .model
        .execute_extraction_job(
            &tenant(),
            &job_id,
            submit,
            &CommandContext::new("t", "test"),
        )
        .await
        .unwrap();
    let message = JobMessage {
        tenant: tenant().to_string(),
        job_id: job_id.as_uuid(),
        user_id: None,
    };
    embedded.queue.publish(&message).await.unwrap();
    job_id
}

fn start(
    embedded: &Embedded,
    extractor: Arc<dyn Extractor>,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let worker = Arc::new(ExtractionWorker::new(
        embedded.model.clone(),
        extractor,
        fast_policy(),
    ));
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(embedded.queue.clone().run(worker, 2, stopped));
    (stop, running)
}

fn rules() -> Arc<dyn Extractor> {
    pika_worker::extractor_for(&pika_worker::ExtractorSettings::Rules).unwrap()
}

async fn wait_for_status(embedded: &Embedded, job_id: &JobId, status: JobStatus) -> ExtractionJob {
    for _ in 0..500 {
        let job = embedded
            .model
            .load_extraction_job(&tenant(), job_id)
            .await
            .unwrap();
        if job.status() == status {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {job_id} never reached {status:?}");
}

async fn wait_for_depth(queue: &LocalJobQueue, expected: QueueDepth) {
    for _ in 0..500 {
        if queue.depth().await.unwrap() == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "queue never reached {expected:?}: {:?}",
        queue.depth().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_job_runs_to_completion_and_leaves_the_queue() {
    let dir = TestDataDir::new();
    let embedded = open(&dir).await;
    let (stop, running) = start(&embedded, rules());
    let job_id = submit(&embedded, "kid-local", "I have a dog called Max.").await;

    let job = wait_for_status(&embedded, &job_id, JobStatus::Completed).await;
    assert_eq!(job.attempts(), 1);
    let memory = embedded
        .model
        .load_user_memory(&tenant(), &UserId::parse("kid-local").unwrap())
        .await
        .unwrap();
    assert!(
        memory
            .live_facts()
            .values()
            .any(|fact| fact.value.as_str() == "Max"),
        "{memory:?}"
    );
    wait_for_depth(&embedded.queue, QueueDepth::default()).await;
    stop.send(true).unwrap();
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_after_its_backoff_and_then_completes() {
    let dir = TestDataDir::new();
    let embedded = open(&dir).await;
    let flaky = Arc::new(FlakyExtractor {
        failures: 1,
        calls: AtomicU32::new(0),
    });
    let (stop, running) = start(&embedded, flaky.clone());
    let job_id = submit(&embedded, "kid-flaky", "I have a cat called Mochi.").await;

    let job = wait_for_status(&embedded, &job_id, JobStatus::Completed).await;
    assert_eq!(job.attempts(), 2, "one failed attempt, one that worked");
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 2);
    wait_for_depth(&embedded.queue, QueueDepth::default()).await;
    stop.send(true).unwrap();
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_into_a_dead_letter_with_the_reason_and_unknown_jobs_too() {
    let dir = TestDataDir::new();
    let embedded = open(&dir).await;
    let always_failing = Arc::new(FlakyExtractor {
        failures: u32::MAX,
        calls: AtomicU32::new(0),
    });
    let (stop, running) = start(&embedded, always_failing.clone());
    let job_id = submit(&embedded, "kid-doomed", "I like kites.").await;
    let unknown = JobMessage {
        tenant: tenant().to_string(),
        job_id: JobId::generate().as_uuid(),
        user_id: None,
    };
    embedded.queue.publish(&unknown).await.unwrap();
    embedded.queue.enqueue("not json").await.unwrap();

    let job = wait_for_status(&embedded, &job_id, JobStatus::DeadLettered).await;
    assert_eq!(job.attempts(), 3, "the policy's three attempts");
    wait_for_depth(
        &embedded.queue,
        QueueDepth {
            dead_lettered: 3,
            ..QueueDepth::default()
        },
    )
    .await;
    let reasons: Vec<String> = embedded
        .queue
        .dead_letters()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, reason)| reason)
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("gave up after 3 attempts")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("unknown job")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("malformed message")),
        "{reasons:?}"
    );
    assert_eq!(
        always_failing.calls.load(Ordering::SeqCst),
        3,
        "no retry past the limit"
    );
    stop.send(true).unwrap();
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_pending_or_leased_when_the_process_ended_run_once_after_the_restart() {
    let dir = TestDataDir::new();
    let (first, second, leased) = {
        let embedded = open(&dir).await;
        let first = submit(&embedded, "kid-restart", "I have a dog called Max.").await;
        let second = submit(&embedded, "kid-restart", "My favourite colour is blue.").await;
        let leased = submit(&embedded, "kid-other", "I have a cat called Mochi.").await;
        // A consumer of the run that ended had taken a job and never settled it.
        let taken = embedded
            .queue
            .claim()
            .await
            .unwrap()
            .expect("a job to take");
        assert!(taken.payload.contains(&first.to_string()));
        (first, second, leased)
    };

    let embedded = open(&dir).await;
    assert_eq!(
        embedded.queue.depth().await.unwrap(),
        QueueDepth {
            waiting: 2,
            leased: 1,
            dead_lettered: 0
        }
    );
    let (stop, running) = start(&embedded, rules());
    for job_id in [first, second, leased] {
        let job = wait_for_status(&embedded, &job_id, JobStatus::Completed).await;
        assert_eq!(job.attempts(), 1, "each job ran once");
    }
    wait_for_depth(&embedded.queue, QueueDepth::default()).await;
    stop.send(true).unwrap();
    running.await.unwrap();
}
