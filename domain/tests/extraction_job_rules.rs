//! Given/when/then tests for the `ExtractionJob` state machine.
#![allow(clippy::unwrap_used)] // test code: a panic is how a check fails

use cqrs_es::test::TestFramework;
use pika_domain::*;

type Job = TestFramework<ExtractionJob>;

fn conversation() -> Conversation {
    Conversation::new(vec![
        ChatMessage::new(Role::User, "Tên con là Minh").unwrap(),
        ChatMessage::new(Role::Assistant, "Chào Minh!").unwrap(),
    ])
    .unwrap()
}

fn submit() -> ExtractionJobCommand {
    ExtractionJobCommand::Submit {
        tenant: TenantId::parse("acme").unwrap(),
        user_id: UserId::parse("kid-1").unwrap(),
        conversation: conversation(),
        metadata: serde_json::json!({"channel": "app"}),
        idempotency_key: Some("k1".into()),
        extract_facts: true,
    }
}

fn submitted() -> ExtractionJobEvent {
    ExtractionJobEvent::Submitted {
        tenant: TenantId::parse("acme").unwrap(),
        user_id: UserId::parse("kid-1").unwrap(),
        conversation: conversation(),
        metadata: serde_json::json!({"channel": "app"}),
        idempotency_key: Some("k1".into()),
        extract_facts: true,
    }
}

fn started(attempt: u32) -> ExtractionJobEvent {
    ExtractionJobEvent::Started { attempt }
}

fn failed(attempt: u32, retryable: bool) -> ExtractionJobEvent {
    ExtractionJobEvent::Failed {
        attempt,
        error: "llm timeout".into(),
        retryable,
    }
}

fn illegal(action: &'static str, status: JobStatus) -> ExtractionJobError {
    ExtractionJobError::IllegalTransition { action, status }
}

#[tokio::test]
async fn given_nothing_when_submitted_then_the_job_is_queued() {
    Job::with(())
        .given_no_previous_events()
        .when_async(submit())
        .await
        .then_expect_events(vec![submitted()]);
}

#[tokio::test]
async fn given_a_submitted_job_when_submitted_again_then_it_is_refused() {
    Job::with(())
        .given(vec![submitted()])
        .when_async(submit())
        .await
        .then_expect_error(ExtractionJobError::AlreadySubmitted);
}

#[tokio::test]
async fn given_no_job_when_started_then_it_is_unknown() {
    Job::with(())
        .given_no_previous_events()
        .when_async(ExtractionJobCommand::Start)
        .await
        .then_expect_error(ExtractionJobError::UnknownJob);
}

#[tokio::test]
async fn given_a_queued_job_when_started_then_attempt_one_begins() {
    Job::with(())
        .given(vec![submitted()])
        .when_async(ExtractionJobCommand::Start)
        .await
        .then_expect_events(vec![started(1)]);
}

#[tokio::test]
async fn given_a_running_job_whose_worker_died_when_started_again_then_the_attempt_is_counted() {
    Job::with(())
        .given(vec![submitted(), started(1)])
        .when_async(ExtractionJobCommand::Start)
        .await
        .then_expect_events(vec![started(2)]);
}

#[tokio::test]
async fn given_a_running_job_when_completed_then_counts_are_recorded() {
    let counts = ExtractionCounts {
        added: 2,
        updated: 1,
        retracted: 0,
        unchanged: 3,
    };
    Job::with(())
        .given(vec![submitted(), started(1)])
        .when_async(ExtractionJobCommand::Complete { counts })
        .await
        .then_expect_events(vec![ExtractionJobEvent::Completed { counts }]);
}

#[tokio::test]
async fn given_a_queued_job_when_completed_or_failed_then_it_is_refused() {
    Job::with(())
        .given(vec![submitted()])
        .when_async(ExtractionJobCommand::Complete {
            counts: ExtractionCounts::default(),
        })
        .await
        .then_expect_error(illegal("complete", JobStatus::Queued));
    Job::with(())
        .given(vec![submitted()])
        .when_async(ExtractionJobCommand::Fail {
            error: "x".into(),
            retryable: true,
        })
        .await
        .then_expect_error(illegal("fail", JobStatus::Queued));
}

#[tokio::test]
async fn given_a_running_job_when_it_fails_then_the_attempt_and_reason_are_recorded() {
    Job::with(())
        .given(vec![submitted(), started(1)])
        .when_async(ExtractionJobCommand::Fail {
            error: "llm timeout".into(),
            retryable: true,
        })
        .await
        .then_expect_events(vec![failed(1, true)]);
}

#[tokio::test]
async fn given_a_retryable_failure_when_started_again_then_attempt_two_begins() {
    Job::with(())
        .given(vec![submitted(), started(1), failed(1, true)])
        .when_async(ExtractionJobCommand::Start)
        .await
        .then_expect_events(vec![started(2)]);
}

#[tokio::test]
async fn given_a_permanent_failure_when_started_again_then_it_is_refused() {
    Job::with(())
        .given(vec![submitted(), started(1), failed(1, false)])
        .when_async(ExtractionJobCommand::Start)
        .await
        .then_expect_error(illegal("start", JobStatus::Failed));
}

#[tokio::test]
async fn given_a_failed_or_queued_job_when_dead_lettered_then_it_is_final() {
    Job::with(())
        .given(vec![submitted(), started(1), failed(1, true)])
        .when_async(ExtractionJobCommand::DeadLetter {
            reason: "retries exhausted".into(),
        })
        .await
        .then_expect_events(vec![ExtractionJobEvent::DeadLettered {
            reason: "retries exhausted".into(),
        }]);
    Job::with(())
        .given(vec![
            submitted(),
            ExtractionJobEvent::DeadLettered {
                reason: "bad".into(),
            },
        ])
        .when_async(ExtractionJobCommand::Start)
        .await
        .then_expect_error(illegal("start", JobStatus::DeadLettered));
}

#[tokio::test]
async fn given_a_completed_job_when_anything_else_happens_then_it_is_refused() {
    let done = vec![
        submitted(),
        started(1),
        ExtractionJobEvent::Completed {
            counts: ExtractionCounts::default(),
        },
    ];
    Job::with(())
        .given(done.clone())
        .when_async(ExtractionJobCommand::Start)
        .await
        .then_expect_error(illegal("start", JobStatus::Completed));
    Job::with(())
        .given(done)
        .when_async(ExtractionJobCommand::DeadLetter { reason: "x".into() })
        .await
        .then_expect_error(illegal("be dead-lettered", JobStatus::Completed));
}

#[tokio::test]
async fn given_a_running_job_when_a_huge_error_is_reported_then_it_is_cut_to_bound_the_event() {
    let result = Job::with(())
        .given(vec![submitted(), started(1)])
        .when_async(ExtractionJobCommand::Fail {
            error: "e".repeat(10_000),
            retryable: false,
        })
        .await
        .inspect_result()
        .unwrap();
    match &result[..] {
        [ExtractionJobEvent::Failed { error, .. }] => {
            assert_eq!(error.chars().count(), ExtractionJob::MAX_ERROR_CHARS)
        }
        other => panic!("unexpected events {other:?}"),
    }
}

#[tokio::test]
async fn given_nothing_when_submitted_with_oversized_metadata_then_it_is_refused() {
    let command = ExtractionJobCommand::Submit {
        tenant: TenantId::parse("acme").unwrap(),
        user_id: UserId::parse("kid-1").unwrap(),
        conversation: conversation(),
        metadata: serde_json::json!({"blob": "x".repeat(20_000)}),
        idempotency_key: None,
        extract_facts: true,
    };
    let result = Job::with(())
        .given_no_previous_events()
        .when_async(command)
        .await
        .inspect_result();
    assert!(matches!(result, Err(ExtractionJobError::Invalid(_))));
}

#[test]
fn conversations_are_bounded() {
    assert!(Conversation::new(vec![]).is_err());
    let one = ChatMessage::new(Role::User, "hi").unwrap();
    assert!(Conversation::new(vec![one.clone(); 200]).is_ok());
    assert!(Conversation::new(vec![one; 201]).is_err());
    assert!(ChatMessage::new(Role::User, "   ").is_err());
    assert!(ChatMessage::new(Role::User, &"x".repeat(8_001)).is_err());
    let json = serde_json::json!([]);
    assert!(serde_json::from_value::<Conversation>(json).is_err());
}

#[test]
fn a_speaker_name_is_trimmed_normalised_and_bounded() {
    let message = ChatMessage::new(Role::User, "hi").unwrap();
    let named = message.clone().with_name("  Thu\u{0309}y ").unwrap();
    assert_eq!(named.name.as_deref(), Some("Thủy"));
    assert!(message.clone().with_name(&"x".repeat(64)).is_ok());
    let error = message.clone().with_name(&"x".repeat(65)).unwrap_err();
    assert!(error.to_string().contains("name"), "{error}");
    assert!(message.with_name("   ").is_err());
}

#[test]
fn a_message_stored_before_speakers_and_times_existed_still_reads() {
    let stored = serde_json::json!({"role": "user", "content": "I have a dog"});
    let message: ChatMessage = serde_json::from_value(stored.clone()).unwrap();
    assert_eq!((message.name.as_deref(), message.sent_at), (None, None));
    assert_eq!(
        serde_json::to_value(&message).unwrap(),
        stored,
        "written back unchanged"
    );
}

#[tokio::test]
async fn given_a_job_submitted_before_extract_facts_existed_then_it_reads_as_extracting() {
    let stored = serde_json::json!({"Submitted": {
        "tenant": "acme", "user_id": "kid-1",
        "conversation": serde_json::to_value(conversation()).unwrap(),
        "metadata": null, "idempotency_key": null
    }});
    let event: ExtractionJobEvent = serde_json::from_value(stored).expect("an old event reads");
    assert!(matches!(
        event,
        ExtractionJobEvent::Submitted {
            extract_facts: true,
            ..
        }
    ));
    let written = serde_json::to_value(submitted()).unwrap();
    assert!(
        written["Submitted"].get("extract_facts").is_none(),
        "events that extract are written as before"
    );
}

#[tokio::test]
async fn given_a_queued_job_of_a_forgotten_user_when_skipped_then_it_is_final_and_not_run() {
    let skipped = ExtractionJobEvent::Skipped {
        reason: "the user was forgotten".into(),
    };
    Job::with(())
        .given(vec![submitted()])
        .when_async(ExtractionJobCommand::Skip {
            reason: "the user was forgotten".into(),
        })
        .await
        .then_expect_events(vec![skipped.clone()]);
    Job::with(())
        .given(vec![submitted(), skipped.clone()])
        .when_async(ExtractionJobCommand::Start)
        .await
        .then_expect_error(illegal("start", JobStatus::Skipped));
    Job::with(())
        .given(vec![
            submitted(),
            started(1),
            ExtractionJobEvent::Completed {
                counts: ExtractionCounts::default(),
            },
        ])
        .when_async(ExtractionJobCommand::Skip { reason: "x".into() })
        .await
        .then_expect_error(illegal("be skipped", JobStatus::Completed));
}

#[test]
fn a_submission_reads_as_shredded_only_when_it_is_the_placeholder_left_by_a_destroyed_key() {
    let placeholder: Conversation = serde_json::from_value(serde_json::json!(
        [{"role": "system", "content": pika_domain::personal_data::FORGOTTEN_TEXT}]
    ))
    .unwrap();
    let submission = |conversation| JobSubmission {
        tenant: TenantId::parse("acme").unwrap(),
        user_id: UserId::parse("kid-1").unwrap(),
        conversation,
        extract_facts: true,
    };
    assert!(submission(placeholder).was_shredded());
    assert!(!submission(conversation()).was_shredded());
    let typed_by_a_user = Conversation::new(vec![
        ChatMessage::new(Role::User, pika_domain::personal_data::FORGOTTEN_TEXT).unwrap(),
    ])
    .unwrap();
    assert!(!submission(typed_by_a_user).was_shredded());
}
