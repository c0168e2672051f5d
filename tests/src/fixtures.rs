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
