//! Turning a conversation into facts: extractors propose candidates, `decide` turns them into
//! the operations one `ApplyExtraction` commits.

pub mod decide;
pub mod llm;
pub mod rules;

use async_trait::async_trait;
use pika_domain::{Confidence, Conversation, FactKey, FactText, FactValue, Language};

/// Whether a statement asserts a fact or says it no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    Assert,
    /// "I don't play the piano anymore", "Em không chơi cờ vua nữa".
    Negate,
}

/// A fact an extractor read in the conversation, before it is compared with what the user's
/// memory already holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub key: FactKey,
    /// `None` only for a negation of a whole key ("I don't have a pet anymore" → `pet`).
    pub value: Option<FactValue>,
    pub text: FactText,
    pub confidence: Confidence,
    pub language: Language,
    pub polarity: Polarity,
    /// Indexes (in the conversation) of the messages that stated it.
    pub message_indexes: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractionError {
    /// Worth retrying: a timeout, a 429 or 5xx from a model endpoint.
    #[error("transient extraction failure: {0}")]
    Transient(String),
    /// Retrying cannot help: a malformed model answer, a refused request.
    #[error("extraction failed: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait Extractor: Send + Sync {
    async fn extract(&self, conversation: &Conversation)
    -> Result<Vec<Candidate>, ExtractionError>;
}
