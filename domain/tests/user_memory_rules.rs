//! Given/when/then tests for every rule of the `UserMemory` aggregate.
#![allow(clippy::unwrap_used)] // test code: a panic is how a check fails

use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use pika_domain::*;
use uuid::Uuid;

type Memory = TestFramework<UserMemory>;

fn id(n: u128) -> FactId {
    FactId::from_uuid(Uuid::from_u128(n))
}

fn job(n: u128) -> JobId {
    JobId::from_uuid(Uuid::from_u128(0xA000 + n))
}

fn candidate(key: &str, value: &str) -> FactCandidate {
    FactCandidate {
        key: FactKey::parse(key).unwrap(),
        value: FactValue::parse(value).unwrap(),
        text: FactText::parse(&format!("{key} is {value}")).unwrap(),
        confidence: Confidence::new(0.9).unwrap(),
        language: Language::parse("en").unwrap(),
        source: FactSource::default(),
    }
}

fn added(fact: FactId, key: &str, value: &str) -> UserMemoryEvent {
    let c = candidate(key, value);
    UserMemoryEvent::FactAdded {
        fact_id: fact,
        kind: c.key.kind(),
        key: c.key,
        value: c.value,
        text: c.text,
        confidence: c.confidence,
        language: c.language,
        source: c.source,
    }
}

fn updated(fact: FactId, key: &str, old: &str, new: &str, version: u32) -> UserMemoryEvent {
    let c = candidate(key, new);
    UserMemoryEvent::FactUpdated {
        fact_id: fact,
        key: c.key,
        old_value: FactValue::parse(old).unwrap(),
        new_value: c.value,
        text: c.text,
        confidence: c.confidence,
        source: c.source,
        version,
    }
}

fn retracted(fact: FactId, key: &str, value: &str, reason: RetractReason) -> UserMemoryEvent {
    UserMemoryEvent::FactRetracted {
        fact_id: fact,
        key: FactKey::parse(key).unwrap(),
        value: FactValue::parse(value).unwrap(),
        reason,
    }
}

fn add(fact: FactId, key: &str, value: &str) -> UserMemoryCommand {
    UserMemoryCommand::AddFact {
        fact_id: fact,
        candidate: candidate(key, value),
    }
}

fn correction(key: &str, value: &str) -> FactCorrection {
    let c = candidate(key, value);
    FactCorrection {
        value: c.value,
        text: c.text,
        confidence: c.confidence,
        source: c.source,
    }
}

#[tokio::test]
async fn given_nothing_when_a_fact_is_added_then_it_is_added_with_its_kind() {
    Memory::with(())
        .given_no_previous_events()
        .when_async(add(id(1), "pet.dog", "Max"))
        .await
        .then_expect_events(vec![added(id(1), "pet.dog", "Max")]);
}

#[tokio::test]
async fn given_a_single_valued_key_when_a_new_value_arrives_then_the_fact_is_updated() {
    Memory::with(())
        .given(vec![added(id(1), "favorite.color", "blue")])
        .when_async(add(id(2), "favorite.color", "red"))
        .await
        .then_expect_events(vec![updated(id(1), "favorite.color", "blue", "red", 2)]);
}

#[tokio::test]
async fn given_an_updated_fact_when_updated_again_then_its_version_counts_on() {
    Memory::with(())
        .given(vec![
            added(id(1), "age", "7"),
            updated(id(1), "age", "7", "8", 2),
        ])
        .when_async(add(id(2), "age", "9"))
        .await
        .then_expect_events(vec![updated(id(1), "age", "8", "9", 3)]);
}

#[tokio::test]
async fn given_a_single_valued_key_when_the_same_value_arrives_in_another_case_then_nothing_changes()
 {
    Memory::with(())
        .given(vec![added(id(1), "name", "Minh")])
        .when_async(add(id(2), "name", "MINH"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn given_a_multi_valued_key_when_another_value_arrives_then_it_is_added_beside() {
    Memory::with(())
        .given(vec![added(id(1), "likes.food", "pizza")])
        .when_async(add(id(2), "likes.food", "ice cream"))
        .await
        .then_expect_events(vec![added(id(2), "likes.food", "ice cream")]);
}

#[tokio::test]
async fn given_pho_when_pho_with_capital_and_accents_arrives_then_it_is_a_no_op() {
    Memory::with(())
        .given(vec![added(id(1), "favorite.food", "phở")])
        .when_async(add(id(2), "favorite.food", "Phở"))
        .await
        .then_expect_events(vec![]);
    Memory::with(())
        .given(vec![added(id(1), "likes.food", "bánh mì")])
        .when_async(add(id(2), "likes.food", "Bánh Mì"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn given_a_liked_thing_when_the_user_dislikes_it_then_the_like_is_retracted() {
    let reason = RetractReason::Contradicted { by_fact: id(2) };
    Memory::with(())
        .given(vec![added(id(1), "likes.food", "broccoli")])
        .when_async(add(id(2), "dislikes.food", "Broccoli"))
        .await
        .then_expect_events(vec![
            retracted(id(1), "likes.food", "broccoli", reason),
            added(id(2), "dislikes.food", "Broccoli"),
        ]);
}

#[tokio::test]
async fn given_a_disliked_thing_when_it_becomes_a_favourite_then_the_dislike_is_retracted() {
    let reason = RetractReason::Contradicted { by_fact: id(3) };
    Memory::with(())
        .given(vec![added(id(1), "dislikes.food", "cá")])
        .when_async(add(id(3), "favorite.food", "Cá"))
        .await
        .then_expect_events(vec![
            retracted(id(1), "dislikes.food", "cá", reason),
            added(id(3), "favorite.food", "Cá"),
        ]);
}

#[tokio::test]
async fn given_an_unknown_fact_when_corrected_or_retracted_then_it_is_an_error() {
    Memory::with(())
        .given_no_previous_events()
        .when_async(UserMemoryCommand::CorrectFact {
            fact_id: id(9),
            correction: correction("name", "Lan"),
        })
        .await
        .then_expect_error(UserMemoryError::FactNotFound(id(9)));
    Memory::with(())
        .given(vec![added(id(1), "name", "Lan")])
        .when_async(UserMemoryCommand::RetractFact {
            fact_id: id(9),
            note: None,
        })
        .await
        .then_expect_error(UserMemoryError::FactNotFound(id(9)));
}

#[tokio::test]
async fn given_a_retracted_fact_when_corrected_or_retracted_again_then_it_is_an_error() {
    let history = vec![
        added(id(1), "pet.cat", "Mochi"),
        retracted(id(1), "pet.cat", "Mochi", RetractReason::Negated),
    ];
    Memory::with(())
        .given(history.clone())
        .when_async(UserMemoryCommand::CorrectFact {
            fact_id: id(1),
            correction: correction("pet.cat", "Miu"),
        })
        .await
        .then_expect_error(UserMemoryError::FactRetracted(id(1)));
    Memory::with(())
        .given(history)
        .when_async(UserMemoryCommand::RetractFact {
            fact_id: id(1),
            note: None,
        })
        .await
        .then_expect_error(UserMemoryError::FactRetracted(id(1)));
}

#[tokio::test]
async fn given_a_live_fact_when_corrected_then_old_and_new_value_are_recorded() {
    Memory::with(())
        .given(vec![added(id(1), "location", "Hue")])
        .when_async(UserMemoryCommand::CorrectFact {
            fact_id: id(1),
            correction: correction("location", "Huế"),
        })
        .await
        .then_expect_events(vec![updated(id(1), "location", "Hue", "Huế", 2)]);
}

#[tokio::test]
async fn given_two_values_of_a_multi_key_when_one_is_corrected_into_the_other_then_it_is_refused() {
    Memory::with(())
        .given(vec![
            added(id(1), "likes.food", "pizza"),
            added(id(2), "likes.food", "pasta"),
        ])
        .when_async(UserMemoryCommand::CorrectFact {
            fact_id: id(2),
            correction: correction("likes.food", "Pizza"),
        })
        .await
        .then_expect_error(UserMemoryError::DuplicateValue {
            existing: id(1),
            key: "likes.food".into(),
            value: "pizza".into(),
        });
}

#[tokio::test]
async fn given_a_live_fact_when_retracted_with_a_note_then_the_note_is_kept() {
    let reason = RetractReason::Requested {
        note: Some("parent asked".into()),
    };
    Memory::with(())
        .given(vec![added(id(1), "health.allergy", "peanuts")])
        .when_async(UserMemoryCommand::RetractFact {
            fact_id: id(1),
            note: Some("parent asked".into()),
        })
        .await
        .then_expect_events(vec![retracted(id(1), "health.allergy", "peanuts", reason)]);
    Memory::with(())
        .given(vec![added(id(1), "health.allergy", "peanuts")])
        .when_async(UserMemoryCommand::RetractFact {
            fact_id: id(1),
            note: Some("x".repeat(501)),
        })
        .await
        .then_expect_error(UserMemoryError::NoteTooLong { limit: 500 });
}

#[tokio::test]
async fn given_a_used_fact_id_when_a_new_fact_reuses_it_then_it_is_refused() {
    Memory::with(())
        .given(vec![
            added(id(1), "pet.cat", "Mochi"),
            retracted(id(1), "pet.cat", "Mochi", RetractReason::Negated),
        ])
        .when_async(add(id(1), "pet.dog", "Max"))
        .await
        .then_expect_error(UserMemoryError::DuplicateFactId(id(1)));
}

#[tokio::test]
async fn given_a_new_job_when_its_extraction_is_applied_then_all_operations_commit_with_counts() {
    let ops = vec![
        FactOperation::Add {
            fact_id: id(10),
            candidate: candidate("name", "Minh"),
        },
        FactOperation::Add {
            fact_id: id(11),
            candidate: candidate("favorite.color", "red"),
        },
        FactOperation::Add {
            fact_id: id(12),
            candidate: candidate("pet.dog", "max"),
        },
        FactOperation::Retract {
            fact_id: id(2),
            reason: RetractReason::Negated,
        },
    ];
    Memory::with(())
        .given(vec![
            added(id(1), "favorite.color", "blue"),
            added(id(2), "likes.activity", "piano"),
            added(id(3), "pet.dog", "Max"),
        ])
        .when_async(UserMemoryCommand::ApplyExtraction {
            job_id: job(1),
            operations: ops,
        })
        .await
        .then_expect_events(vec![
            added(id(10), "name", "Minh"),
            updated(id(1), "favorite.color", "blue", "red", 2),
            retracted(id(2), "likes.activity", "piano", RetractReason::Negated),
            UserMemoryEvent::ExtractionApplied {
                job_id: job(1),
                counts: ExtractionCounts {
                    added: 1,
                    updated: 1,
                    retracted: 1,
                    unchanged: 1,
                },
            },
        ]);
}

#[tokio::test]
async fn given_an_applied_job_when_it_is_applied_again_then_nothing_is_emitted() {
    Memory::with(())
        .given(vec![
            added(id(10), "name", "Minh"),
            UserMemoryEvent::ExtractionApplied {
                job_id: job(1),
                counts: ExtractionCounts {
                    added: 1,
                    ..Default::default()
                },
            },
        ])
        .when_async(UserMemoryCommand::ApplyExtraction {
            job_id: job(1),
            operations: vec![FactOperation::Add {
                fact_id: id(20),
                candidate: candidate("pet.cat", "Mochi"),
            }],
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn given_a_job_with_one_invalid_operation_when_applied_then_the_whole_batch_is_refused() {
    Memory::with(())
        .given_no_previous_events()
        .when_async(UserMemoryCommand::ApplyExtraction {
            job_id: job(2),
            operations: vec![
                FactOperation::Add {
                    fact_id: id(10),
                    candidate: candidate("name", "Minh"),
                },
                FactOperation::Retract {
                    fact_id: id(99),
                    reason: RetractReason::Negated,
                },
            ],
        })
        .await
        .then_expect_error(UserMemoryError::FactNotFound(id(99)));
}

#[tokio::test]
async fn given_a_job_when_it_repeats_a_fact_id_or_carries_too_many_operations_then_it_is_refused() {
    let twice = vec![
        FactOperation::Add {
            fact_id: id(10),
            candidate: candidate("name", "Minh"),
        },
        FactOperation::Add {
            fact_id: id(10),
            candidate: candidate("age", "8"),
        },
    ];
    Memory::with(())
        .given_no_previous_events()
        .when_async(UserMemoryCommand::ApplyExtraction {
            job_id: job(3),
            operations: twice,
        })
        .await
        .then_expect_error(UserMemoryError::RepeatedOperation(id(10)));
    let many = (0..=500)
        .map(|n| FactOperation::Add {
            fact_id: id(1000 + n),
            candidate: candidate("likes.food", &format!("dish {n}")),
        })
        .collect();
    Memory::with(())
        .given_no_previous_events()
        .when_async(UserMemoryCommand::ApplyExtraction {
            job_id: job(4),
            operations: many,
        })
        .await
        .then_expect_error(UserMemoryError::TooManyOperations { limit: 500 });
}

#[tokio::test]
async fn given_a_full_memory_when_one_more_fact_arrives_then_it_is_refused() {
    let full: Vec<_> = (0..UserMemory::MAX_LIVE_FACTS as u128)
        .map(|n| added(id(100_000 + n), "likes.thing", &format!("thing {n}")))
        .collect();
    Memory::with(())
        .given(full)
        .when_async(add(id(1), "likes.thing", "one more"))
        .await
        .then_expect_error(UserMemoryError::TooManyFacts { limit: 10_000 });
}

#[tokio::test]
async fn given_facts_when_the_user_is_forgotten_then_every_fact_is_retracted_and_the_erasure_recorded()
 {
    Memory::with(())
        .given(vec![
            added(id(1), "name", "Minh"),
            added(id(2), "pet.dog", "Max"),
            retracted(id(2), "pet.dog", "Max", RetractReason::Negated),
            added(id(3), "likes.food", "phở"),
        ])
        .when_async(UserMemoryCommand::ForgetUser)
        .await
        .then_expect_events(vec![
            retracted(id(1), "name", "Minh", RetractReason::UserForgotten),
            retracted(id(3), "likes.food", "phở", RetractReason::UserForgotten),
            UserMemoryEvent::UserForgotten { facts_retracted: 2 },
        ]);
}

#[tokio::test]
async fn given_a_forgotten_user_when_they_come_back_then_facts_start_afresh() {
    Memory::with(())
        .given(vec![
            added(id(1), "name", "Minh"),
            retracted(id(1), "name", "Minh", RetractReason::UserForgotten),
            UserMemoryEvent::UserForgotten { facts_retracted: 1 },
        ])
        .when_async(add(id(2), "name", "Minh"))
        .await
        .then_expect_events(vec![added(id(2), "name", "Minh")]);
}

#[test]
fn events_carry_a_version_and_vietnamese_values_survive_serialisation() {
    use cqrs_es::DomainEvent;
    let event = added(id(1), "favorite.food", "bún chả");
    assert_eq!(event.event_version(), "1.0");
    assert_eq!(event.event_type(), "FactAdded");
    let json = serde_json::to_value(&event).unwrap();
    let back: UserMemoryEvent = serde_json::from_value(json).unwrap();
    assert_eq!(back, event);
}

#[tokio::test]
async fn given_a_value_corrected_away_when_the_old_value_is_added_then_it_is_a_new_fact() {
    Memory::with(())
        .given(vec![
            added(id(1), "likes.thing", "kites"),
            updated(id(1), "likes.thing", "kites", "red kites", 2),
        ])
        .when_async(add(id(2), "likes.thing", "Kites"))
        .await
        .then_expect_events(vec![added(id(2), "likes.thing", "Kites")]);
}

#[tokio::test]
async fn given_a_memory_read_back_from_its_snapshot_when_a_value_it_holds_is_added_then_nothing_changes()
 {
    let mut memory = UserMemory::default();
    memory.apply(added(id(1), "likes.thing", "phở"));
    memory.apply(added(id(2), "favorite.color", "blue"));
    let snapshot = serde_json::to_value(&memory).unwrap();
    let read_back: UserMemory = serde_json::from_value(snapshot).unwrap();
    assert_eq!(read_back, memory, "the index is rebuilt from the facts");

    for (command, fact) in [
        (add(id(3), "likes.thing", "PHỞ"), "a repeated like"),
        (
            add(id(4), "favorite.color", "Blue"),
            "a repeated single value",
        ),
    ] {
        let mut state = read_back.clone();
        let sink = cqrs_es::event_sink::EventSink::default();
        state.handle(command, &(), &sink).await.unwrap();
        assert!(sink.collect().await.is_empty(), "{fact} changes nothing");
    }
}
