//! Random but reproducible histories for the rebuild test and the rebuild benchmark: fact
//! batches that add, contradict and retract, inside job lifecycles that complete, fail and
//! dead-letter, all written through the real write side.

use pika_commands::{CommandContext, WriteModel};
use pika_domain::*;
use rand::Rng;
use rand::seq::IndexedRandom;
use sqlx::PgPool;

fn candidate(key: &str, value: &str) -> FactCandidate {
    FactCandidate {
        key: FactKey::parse(key).expect("key"),
        value: FactValue::parse(value).expect("value"),
        text: FactText::parse(&format!("{key} = {value}")).expect("text"),
        confidence: Confidence::new(0.7).expect("confidence"),
        language: Language::parse("en").expect("language"),
        source: FactSource::default(),
    }
}

/// A random batch for one user: new likes and dislikes (some contradicting), favourite
/// changes, and retractions of facts that are live now.
pub fn random_batch(rng: &mut impl Rng, memory: &UserMemory, size: usize) -> Vec<FactOperation> {
    let things = [
        "phở", "pizza", "kites", "robots", "cá", "mèo", "lego", "trains", "kem", "rice",
    ];
    let colours = ["red", "blue", "xanh", "vàng", "green"];
    let mut operations = Vec::new();
    let mut touched = std::collections::BTreeSet::new();
    for _ in 0..size {
        let op = match rng.random_range(0..10) {
            0..=3 => {
                let thing = format!(
                    "{} {}",
                    things.choose(rng).expect("things"),
                    rng.random_range(0..8)
                );
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
                candidate: candidate("favorite.color", colours.choose(rng).expect("colours")),
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

/// One extraction job for `user`: submitted, started, then applied and completed, or failed
/// (retryably, then completed; or for good), or dead-lettered, as the dice say.
pub async fn random_job(
    model: &WriteModel,
    rng: &mut (impl Rng + Send),
    tenant: &TenantId,
    user: &UserId,
    batch_size: usize,
) {
    let job = JobId::generate();
    let context = CommandContext::new(format!("job-{job}"), "worker");
    let run = |command| model.execute_extraction_job(tenant, &job, command, &context);
    run(ExtractionJobCommand::Submit {
        tenant: tenant.clone(),
        user_id: user.clone(),
        conversation: Conversation::new(vec![
            ChatMessage::new(Role::User, "I like kites").expect("message"),
        ])
        .expect("conversation"),
        metadata: serde_json::json!({}),
        idempotency_key: None,
        extract_facts: true,
    })
    .await
    .expect("submit");
    run(ExtractionJobCommand::Start).await.expect("start");
    let outcome = rng.random_range(0..10);
    if outcome == 0 {
        let reason = "the extractor answered nonsense".to_owned();
        run(ExtractionJobCommand::DeadLetter { reason })
            .await
            .expect("dead letter");
        return;
    }
    if outcome == 1 {
        let error = "a permanent failure".to_owned();
        run(ExtractionJobCommand::Fail {
            error,
            retryable: false,
        })
        .await
        .expect("fail");
        return;
    }
    if outcome == 2 {
        let error = "the database was busy".to_owned();
        run(ExtractionJobCommand::Fail {
            error,
            retryable: true,
        })
        .await
        .expect("fail");
        run(ExtractionJobCommand::Start).await.expect("restart");
    }
    let memory = model
        .load_user_memory(tenant, user)
        .await
        .expect("load memory");
    let operations = random_batch(rng, &memory, batch_size);
    model
        .execute_user_memory(
            tenant,
            user,
            UserMemoryCommand::ApplyExtraction {
                job_id: job,
                operations,
            },
            &context,
        )
        .await
        .expect("apply");
    let counts = ExtractionCounts {
        added: u32::try_from(batch_size).unwrap_or(u32::MAX),
        ..ExtractionCounts::default()
    };
    run(ExtractionJobCommand::Complete { counts })
        .await
        .expect("complete");
}

/// A table's rows as one JSON text, in a stable order, to compare tables row for row.
pub async fn table_rows(pool: &PgPool, table: &str, order: &str) -> String {
    sqlx::query_scalar(&format!(
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY {order}), '[]')::text FROM {table} t"
    ))
    .fetch_one(pool)
    .await
    .expect("rows")
}

/// Every read model a rebuild recreates, as (table, order) pairs.
pub const REBUILT_TABLES: &[(&str, &str)] = &[
    ("facts", "tenant, user_id, fact_id"),
    ("user_favorite_summary", "tenant, user_id"),
    ("extraction_jobs", "tenant, job_id"),
    ("episodes", "tenant, job_id, message_index"),
];

pub async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Runs `daemon` until every read model has applied the last event of the log. A transaction
/// open anywhere in the cluster (another test's) holds the safe tail back for a moment, so a
/// single catch-up may stop short.
pub async fn catch_up_fully(daemon: &pika_projections::ProjectionDaemon, pool: &PgPool) {
    for _ in 0..500 {
        daemon.catch_up().await.expect("projections apply");
        let caught_up: bool = sqlx::query_scalar(
            "SELECT count(*) = 3
                    AND coalesce(min(c.global_position) = (SELECT max(global_position) FROM events),
                                 false)
               FROM projection_checkpoints c
              WHERE c.projection IN ('facts', 'user_favorite_summary', 'extraction_jobs')",
        )
        .fetch_one(pool)
        .await
        .expect("checkpoints");
        if caught_up {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the projections never caught up with the log");
}
