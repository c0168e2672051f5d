//! Scenarios for the write model's kept aggregate states, shared by both backends' suites.
//! Each write model stands for a process: it keeps the users' memories it committed, while
//! another process commits to the same users.

use pika_commands::WriteModel;
use pika_domain::*;

use crate::fixtures::{add, candidate, context, tenant};

async fn live_values(model: &WriteModel, kid: &UserId) -> Vec<String> {
    let memory = model.load_user_memory(&tenant(), kid).await.unwrap();
    let mut values: Vec<String> = memory
        .live_facts()
        .values()
        .map(|fact| fact.value.to_string())
        .collect();
    values.sort();
    values
}

async fn commit(model: &WriteModel, kid: &UserId, command: UserMemoryCommand) {
    model
        .execute_user_memory(&tenant(), kid, command, &context())
        .await
        .expect("the command is applied");
}

async fn adds(model: &WriteModel, kid: &UserId, prefix: &str, count: usize) {
    for n in 0..count {
        commit(model, kid, add(&format!("{prefix} {n}"))).await;
    }
}

/// A process that kept a memory reads, and decides on, what another process committed since.
pub async fn each_writer_sees_the_others_commits(ours: &WriteModel, theirs: &WriteModel) {
    let kid = UserId::parse("kid-two-writers").unwrap();
    commit(ours, &kid, add("kites")).await;
    assert_eq!(live_values(ours, &kid).await, ["kites"]);

    commit(theirs, &kid, add("dragons")).await;
    assert_eq!(live_values(ours, &kid).await, ["dragons", "kites"]);

    let memory = ours.load_user_memory(&tenant(), &kid).await.unwrap();
    let (dragons, _) = memory
        .live_facts()
        .iter()
        .find(|(_, fact)| fact.value.as_str() == "dragons")
        .expect("their fact");
    let correction = FactCorrection {
        value: FactValue::parse("red dragons").unwrap(),
        text: FactText::parse("likes red dragons").unwrap(),
        confidence: Confidence::new(0.9).unwrap(),
        source: FactSource::default(),
    };
    let correct = UserMemoryCommand::CorrectFact {
        fact_id: *dragons,
        correction,
    };
    drop(memory);
    commit(ours, &kid, correct).await;
    assert_eq!(live_values(theirs, &kid).await, ["kites", "red dragons"]);
    assert_eq!(live_values(ours, &kid).await, ["kites", "red dragons"]);
}

/// A command refused halfway (its first operation applied to the state, its second invalid)
/// leaves the kept state as the store has it.
pub async fn a_refused_command_leaves_no_trace(model: &WriteModel) {
    let kid = UserId::parse("kid-refused").unwrap();
    commit(model, &kid, add("kites")).await;
    let operations = vec![
        FactOperation::Add {
            fact_id: FactId::generate(),
            candidate: candidate("likes.thing", "phantom"),
        },
        FactOperation::Retract {
            fact_id: FactId::generate(),
            reason: RetractReason::Requested { note: None },
        },
    ];
    let refused = UserMemoryCommand::ApplyExtraction {
        job_id: JobId::generate(),
        operations,
    };
    let outcome = model
        .execute_user_memory(&tenant(), &kid, refused, &context())
        .await;
    assert!(outcome.is_err(), "retracting an unknown fact is refused");
    assert_eq!(live_values(model, &kid).await, ["kites"]);
    commit(model, &kid, add("dragons")).await;
    assert_eq!(live_values(model, &kid).await, ["dragons", "kites"]);
}

/// Two processes take turns across snapshot boundaries: 50 facts by one, 60 by the other
/// (its commit writes the first snapshot), 100 by the first (the second), 100 by the other
/// (the third, replacing a snapshot it never read). Returns the facts written.
pub async fn writers_take_turns_across_snapshots(
    ours: &WriteModel,
    theirs: &WriteModel,
    kid: &UserId,
) -> usize {
    adds(ours, kid, "ours", 50).await;
    adds(theirs, kid, "theirs", 60).await;
    adds(ours, kid, "ours again", 100).await;
    adds(theirs, kid, "theirs again", 100).await;
    let total = 310;
    for model in [ours, theirs] {
        let memory = model.load_user_memory(&tenant(), kid).await.unwrap();
        assert_eq!(memory.live_facts().len(), total);
    }
    total
}
