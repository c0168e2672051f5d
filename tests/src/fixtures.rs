//! Values the write-side tests of both backends share, so the Postgres and SQLite suites
//! run the very same commands.

use pika_commands::CommandContext;
use pika_domain::*;

pub fn tenant() -> TenantId {
    TenantId::parse("acme").expect("tenant")
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).expect("user id")
}

/// A `likes.thing` fact as an extraction would propose it.
pub fn candidate(key: &str, value: &str) -> FactCandidate {
    FactCandidate {
        key: FactKey::parse(key).expect("key"),
        value: FactValue::parse(value).expect("value"),
        text: FactText::parse(&format!("likes {value}")).expect("text"),
        confidence: Confidence::new(0.8).expect("confidence"),
        language: Language::parse("en").expect("language"),
        source: FactSource::default(),
    }
}

pub fn add(value: &str) -> UserMemoryCommand {
    UserMemoryCommand::AddFact {
        fact_id: FactId::generate(),
        candidate: candidate("likes.thing", value),
    }
}

pub fn context() -> CommandContext {
    CommandContext::new("req-1", "test")
}

/// Patient enough for fifty writers on one aggregate.
pub fn patient_retry() -> pika_commands::RetryPolicy {
    pika_commands::RetryPolicy {
        max_attempts: 60,
        ..pika_commands::RetryPolicy::default()
    }
}

/// Fifty `AddFact` commands on one user, spread over `models` (each standing for a process)
/// and run at once; panics unless every one is applied.
pub async fn fifty_concurrent_adds(
    models: &[std::sync::Arc<pika_commands::WriteModel>],
    kid: &UserId,
) {
    let mut tasks = Vec::new();
    for n in 0..50 {
        let model = models[n % models.len()].clone();
        let kid = kid.clone();
        tasks.push(tokio::spawn(async move {
            model
                .execute_user_memory(&tenant(), &kid, add(&format!("thing {n}")), &context())
                .await
        }));
    }
    for task in tasks {
        task.await
            .expect("the task ends")
            .expect("every command is applied");
    }
}

/// Two commits on one user: an extraction adding three facts (four events, one transaction),
/// then one more fact by hand (one event) — five events whose order and metadata both
/// backends' stores are checked on.
pub async fn two_commits_of_five_events(model: &pika_commands::WriteModel, kid: &UserId) {
    let operations = ["pizza", "kites", "dragons"]
        .map(|value| FactOperation::Add {
            fact_id: FactId::generate(),
            candidate: candidate("likes.thing", value),
        })
        .to_vec();
    let apply = UserMemoryCommand::ApplyExtraction {
        job_id: JobId::generate(),
        operations,
    };
    for command in [apply, add("yo-yos")] {
        model
            .execute_user_memory(&tenant(), kid, command, &context())
            .await
            .expect("the commit");
    }
}
