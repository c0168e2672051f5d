//! What a reader finds in a clause, and how sure it is, before it becomes a `Candidate`.

use super::super::Polarity;

/// A plain statement about oneself ("My favourite colour is blue").
pub(super) const DIRECT: f64 = 0.9;

/// A short answer read through the assistant's question ("Math!").
pub(super) const CONTEXTUAL: f64 = 0.8;

/// A habit rather than a stated liking ("I play the piano", "Em học võ").
pub(super) const HABIT: f64 = 0.8;

/// A statement whose topic had to be guessed, a "yes" to a question, "I used to …", or a
/// relative only mentioned in passing ("My sister loves pink").
pub(super) const WEAK: f64 = 0.7;

/// A fact read in one clause, before it becomes a `Candidate`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Finding {
    pub(super) key: String,
    pub(super) value: Option<String>,
    pub(super) polarity: Polarity,
    pub(super) confidence: f64,
    pub(super) shape: Shape,
}

/// What a value is beyond its key, so the fact's text can say it well.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shape {
    Plain,
    /// The name of a pet or relative ("Max"), not the thing itself ("dog").
    Named,
    /// A relative's job ("Mẹ em là giáo viên").
    Job(String),
}

impl Finding {
    pub(super) fn assert(
        key: impl Into<String>,
        value: impl Into<String>,
        confidence: f64,
    ) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
            polarity: Polarity::Assert,
            confidence,
            shape: Shape::Plain,
        }
    }

    pub(super) fn negate(key: impl Into<String>, value: Option<String>, confidence: f64) -> Self {
        Self {
            key: key.into(),
            value,
            polarity: Polarity::Negate,
            confidence,
            shape: Shape::Plain,
        }
    }

    pub(super) fn with_name(mut self) -> Self {
        self.shape = Shape::Named;
        self
    }

    pub(super) fn with_job(mut self, job: &str) -> Self {
        self.shape = Shape::Job(job.to_owned());
        self
    }
}
