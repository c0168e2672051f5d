//! The `UserMemory` aggregate: everything the assistant knows about one user of one tenant.
//!
//! It decides nothing about language; extraction happens in the worker. It guards the rules
//! that keep a memory coherent whoever writes to it: one live value for single-valued keys, no
//! duplicate values, never liking and disliking the same thing at once, and redelivered
//! extraction jobs applied once.

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::live_fact_index::LiveFactIndex;
use crate::values::{
    Cardinality, Confidence, FactId, FactKey, FactKind, FactText, FactValue, JobId, Language,
};

/// Where a fact came from: the extraction job and the indexes of the messages that stated it,
/// or no job for a fact an operator added or corrected by hand.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FactSource {
    pub job_id: Option<JobId>,
    pub message_indexes: Vec<u32>,
}

/// A fact as proposed by an extractor or an operator, before the aggregate decides whether it
/// is new, an update of a live fact, or already known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactCandidate {
    pub key: FactKey,
    pub value: FactValue,
    pub text: FactText,
    pub confidence: Confidence,
    pub language: Language,
    pub source: FactSource,
}

/// A new value for a live fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactCorrection {
    pub value: FactValue,
    pub text: FactText,
    pub confidence: Confidence,
    pub source: FactSource,
}

/// Why a fact stopped being live. Kept in the event so the audit trail can say why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RetractReason {
    /// The user said it is no longer true ("I don't play the piano anymore").
    Negated,
    /// A newer fact with the opposite sentiment about the same thing replaced it.
    Contradicted { by_fact: FactId },
    /// Someone retracted it through the API, optionally saying why.
    Requested { note: Option<String> },
    /// The user asked to be forgotten.
    UserForgotten,
}

/// One decided change in an extraction batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FactOperation {
    /// `fact_id` is used if the candidate turns out to be new.
    Add {
        fact_id: FactId,
        candidate: FactCandidate,
    },
    Update {
        fact_id: FactId,
        correction: FactCorrection,
    },
    Retract {
        fact_id: FactId,
        reason: RetractReason,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserMemoryCommand {
    /// Decided operations from one extraction job, applied in one commit or not at all.
    ApplyExtraction {
        job_id: JobId,
        operations: Vec<FactOperation>,
    },
    AddFact {
        fact_id: FactId,
        candidate: FactCandidate,
    },
    CorrectFact {
        fact_id: FactId,
        correction: FactCorrection,
    },
    RetractFact {
        fact_id: FactId,
        note: Option<String>,
    },
    ForgetUser,
}

/// How many facts one job changed; recorded on the user and reported on the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExtractionCounts {
    pub added: u32,
    pub updated: u32,
    pub retracted: u32,
    pub unchanged: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserMemoryEvent {
    FactAdded {
        fact_id: FactId,
        key: FactKey,
        kind: FactKind,
        value: FactValue,
        text: FactText,
        confidence: Confidence,
        language: Language,
        source: FactSource,
    },
    FactUpdated {
        fact_id: FactId,
        key: FactKey,
        old_value: FactValue,
        new_value: FactValue,
        text: FactText,
        confidence: Confidence,
        source: FactSource,
        version: u32,
    },
    FactRetracted {
        fact_id: FactId,
        key: FactKey,
        value: FactValue,
        reason: RetractReason,
    },
    ExtractionApplied {
        job_id: JobId,
        counts: ExtractionCounts,
    },
    UserForgotten {
        facts_retracted: u32,
    },
}

/// The payload version every event is written with; bump it with an upcaster when a payload
/// changes shape.
pub const EVENT_VERSION: &str = "1.0";

impl DomainEvent for UserMemoryEvent {
    fn event_type(&self) -> String {
        match self {
            Self::FactAdded { .. } => "FactAdded",
            Self::FactUpdated { .. } => "FactUpdated",
            Self::FactRetracted { .. } => "FactRetracted",
            Self::ExtractionApplied { .. } => "ExtractionApplied",
            Self::UserForgotten { .. } => "UserForgotten",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserMemoryError {
    #[error("fact {0} does not exist")]
    FactNotFound(FactId),
    #[error("fact {0} was retracted and can no longer change")]
    FactRetracted(FactId),
    #[error("fact id {0} is already used by another fact")]
    DuplicateFactId(FactId),
    #[error("another live fact {existing} already has {key} = {value:?}")]
    DuplicateValue {
        existing: FactId,
        key: String,
        value: String,
    },
    #[error("a user may hold at most {limit} live facts")]
    TooManyFacts { limit: usize },
    #[error("an extraction may carry at most {limit} operations")]
    TooManyOperations { limit: usize },
    #[error("a fact id appears more than once in one extraction: {0}")]
    RepeatedOperation(FactId),
    #[error("retraction note: at most {limit} characters")]
    NoteTooLong { limit: usize },
}

/// A live fact as the aggregate needs it to check the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveFact {
    pub key: FactKey,
    pub value: FactValue,
    pub text: FactText,
    pub version: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredUserMemory")]
pub struct UserMemory {
    live: BTreeMap<FactId, LiveFact>,
    retracted: BTreeSet<FactId>,
    applied_jobs: BTreeMap<JobId, ExtractionCounts>,
    #[serde(skip)]
    index: LiveFactIndex,
}

/// A memory as a snapshot holds it: the facts without their index.
#[derive(Deserialize)]
struct StoredUserMemory {
    live: BTreeMap<FactId, LiveFact>,
    retracted: BTreeSet<FactId>,
    applied_jobs: BTreeMap<JobId, ExtractionCounts>,
}

impl From<StoredUserMemory> for UserMemory {
    fn from(stored: StoredUserMemory) -> Self {
        let mut index = LiveFactIndex::default();
        for (id, fact) in &stored.live {
            index.insert(*id, &fact.key, fact.value.match_key());
        }
        Self {
            live: stored.live,
            retracted: stored.retracted,
            applied_jobs: stored.applied_jobs,
            index,
        }
    }
}

/// What happened to one operation, for the job's counts.
enum Outcome {
    Added,
    Updated,
    Retracted,
    Unchanged,
}

impl UserMemory {
    pub const MAX_LIVE_FACTS: usize = 10_000;
    pub const MAX_OPERATIONS: usize = 500;
    pub const MAX_NOTE_CHARS: usize = 500;

    pub fn live_facts(&self) -> &BTreeMap<FactId, LiveFact> {
        &self.live
    }

    /// The counts recorded when `job` was applied, so a redelivered job can still report them.
    pub fn applied_job(&self, job: &JobId) -> Option<ExtractionCounts> {
        self.applied_jobs.get(job).copied()
    }

    fn live_fact(&self, fact_id: FactId) -> Result<&LiveFact, UserMemoryError> {
        match self.live.get(&fact_id) {
            Some(fact) => Ok(fact),
            None if self.retracted.contains(&fact_id) => {
                Err(UserMemoryError::FactRetracted(fact_id))
            }
            None => Err(UserMemoryError::FactNotFound(fact_id)),
        }
    }

    /// The live facts among `ids`, in id order.
    fn live_among(
        &self,
        ids: impl Iterator<Item = FactId>,
    ) -> impl Iterator<Item = (FactId, &LiveFact)> {
        ids.filter_map(|id| self.live.get(&id).map(|fact| (id, fact)))
    }

    /// The first live fact, in id order, under `key` whose value matches `match_key`.
    fn live_with(&self, key: &FactKey, match_key: &str) -> Option<(FactId, &LiveFact)> {
        self.live_among(self.index.with_value(match_key))
            .find(|(_, fact)| fact.key == *key)
    }

    async fn add(
        &mut self,
        fact_id: FactId,
        candidate: FactCandidate,
        sink: &EventSink<Self>,
    ) -> Result<Outcome, UserMemoryError> {
        let wanted = candidate.value.match_key();
        let current = match candidate.key.cardinality() {
            Cardinality::Single => self.live_among(self.index.with_key(&candidate.key)).next(),
            Cardinality::Multi => self.live_with(&candidate.key, &wanted),
        }
        .map(|(id, fact)| (id, fact.value.match_key() == wanted));
        if let Some((_, true)) = current {
            return Ok(Outcome::Unchanged);
        }
        let replaced = current.map(|(id, _)| id);
        if replaced.is_none()
            && (self.live.contains_key(&fact_id) || self.retracted.contains(&fact_id))
        {
            return Err(UserMemoryError::DuplicateFactId(fact_id));
        }
        let opposite: Vec<FactId> = match candidate.key.sentiment() {
            Some(sentiment) => self
                .live_among(self.index.with_value(&wanted))
                .filter(|(_, f)| f.key.sentiment().is_some_and(|s| s != sentiment))
                .map(|(id, _)| id)
                .collect(),
            None => Vec::new(),
        };
        if replaced.is_none() && self.live.len() - opposite.len() >= Self::MAX_LIVE_FACTS {
            return Err(UserMemoryError::TooManyFacts {
                limit: Self::MAX_LIVE_FACTS,
            });
        }
        let by_fact = replaced.unwrap_or(fact_id);
        for contradicted in opposite {
            let reason = RetractReason::Contradicted { by_fact };
            self.retract(contradicted, reason, sink).await?;
        }
        if let Some(existing) = replaced {
            let correction = FactCorrection {
                value: candidate.value,
                text: candidate.text,
                confidence: candidate.confidence,
                source: candidate.source,
            };
            return self.correct(existing, correction, sink).await;
        }
        let event = UserMemoryEvent::FactAdded {
            fact_id,
            kind: candidate.key.kind(),
            key: candidate.key,
            value: candidate.value,
            text: candidate.text,
            confidence: candidate.confidence,
            language: candidate.language,
            source: candidate.source,
        };
        sink.write(event, self).await;
        Ok(Outcome::Added)
    }

    async fn correct(
        &mut self,
        fact_id: FactId,
        correction: FactCorrection,
        sink: &EventSink<Self>,
    ) -> Result<Outcome, UserMemoryError> {
        let fact = self.live_fact(fact_id)?;
        let wanted = correction.value.match_key();
        if fact.value.match_key() == wanted && fact.text == correction.text {
            return Ok(Outcome::Unchanged);
        }
        if fact.key.cardinality() == Cardinality::Multi
            && let Some((existing, other)) = self
                .live_with(&fact.key, &wanted)
                .filter(|(id, _)| *id != fact_id)
        {
            return Err(UserMemoryError::DuplicateValue {
                existing,
                key: other.key.to_string(),
                value: other.value.to_string(),
            });
        }
        let event = UserMemoryEvent::FactUpdated {
            fact_id,
            key: fact.key.clone(),
            old_value: fact.value.clone(),
            new_value: correction.value,
            text: correction.text,
            confidence: correction.confidence,
            source: correction.source,
            version: fact.version + 1,
        };
        sink.write(event, self).await;
        Ok(Outcome::Updated)
    }

    async fn retract(
        &mut self,
        fact_id: FactId,
        reason: RetractReason,
        sink: &EventSink<Self>,
    ) -> Result<Outcome, UserMemoryError> {
        let fact = self.live_fact(fact_id)?;
        let event = UserMemoryEvent::FactRetracted {
            fact_id,
            key: fact.key.clone(),
            value: fact.value.clone(),
            reason,
        };
        sink.write(event, self).await;
        Ok(Outcome::Retracted)
    }

    async fn apply_extraction(
        &mut self,
        job_id: JobId,
        operations: Vec<FactOperation>,
        sink: &EventSink<Self>,
    ) -> Result<(), UserMemoryError> {
        if self.applied_jobs.contains_key(&job_id) {
            return Ok(());
        }
        if operations.len() > Self::MAX_OPERATIONS {
            return Err(UserMemoryError::TooManyOperations {
                limit: Self::MAX_OPERATIONS,
            });
        }
        let mut seen = BTreeSet::new();
        for op in &operations {
            let id = match op {
                FactOperation::Add { fact_id, .. }
                | FactOperation::Update { fact_id, .. }
                | FactOperation::Retract { fact_id, .. } => *fact_id,
            };
            if !seen.insert(id) {
                return Err(UserMemoryError::RepeatedOperation(id));
            }
        }
        let mut counts = ExtractionCounts::default();
        for op in operations {
            let outcome = match op {
                FactOperation::Add { fact_id, candidate } => {
                    self.add(fact_id, candidate, sink).await?
                }
                FactOperation::Update {
                    fact_id,
                    correction,
                } => self.correct(fact_id, correction, sink).await?,
                FactOperation::Retract { fact_id, reason } => {
                    self.retract(fact_id, reason, sink).await?
                }
            };
            match outcome {
                Outcome::Added => counts.added += 1,
                Outcome::Updated => counts.updated += 1,
                Outcome::Retracted => counts.retracted += 1,
                Outcome::Unchanged => counts.unchanged += 1,
            }
        }
        sink.write(UserMemoryEvent::ExtractionApplied { job_id, counts }, self)
            .await;
        Ok(())
    }

    async fn forget(&mut self, sink: &EventSink<Self>) -> Result<(), UserMemoryError> {
        let ids: Vec<FactId> = self.live.keys().copied().collect();
        let facts_retracted = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        for fact_id in ids {
            self.retract(fact_id, RetractReason::UserForgotten, sink)
                .await?;
        }
        sink.write(UserMemoryEvent::UserForgotten { facts_retracted }, self)
            .await;
        Ok(())
    }
}

impl Aggregate for UserMemory {
    const TYPE: &'static str = "UserMemory";
    type Command = UserMemoryCommand;
    type Event = UserMemoryEvent;
    type Error = UserMemoryError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            UserMemoryCommand::ApplyExtraction { job_id, operations } => {
                self.apply_extraction(job_id, operations, sink).await
            }
            UserMemoryCommand::AddFact { fact_id, candidate } => {
                self.add(fact_id, candidate, sink).await.map(drop)
            }
            UserMemoryCommand::CorrectFact {
                fact_id,
                correction,
            } => self.correct(fact_id, correction, sink).await.map(drop),
            UserMemoryCommand::RetractFact { fact_id, note } => {
                if note
                    .as_ref()
                    .is_some_and(|n| n.chars().count() > Self::MAX_NOTE_CHARS)
                {
                    return Err(UserMemoryError::NoteTooLong {
                        limit: Self::MAX_NOTE_CHARS,
                    });
                }
                let reason = RetractReason::Requested { note };
                self.retract(fact_id, reason, sink).await.map(drop)
            }
            UserMemoryCommand::ForgetUser => self.forget(sink).await,
        }
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            UserMemoryEvent::FactAdded {
                fact_id,
                key,
                value,
                text,
                ..
            } => {
                self.index.insert(fact_id, &key, value.match_key());
                let fact = LiveFact {
                    key,
                    value,
                    text,
                    version: 1,
                };
                self.live.insert(fact_id, fact);
            }
            UserMemoryEvent::FactUpdated {
                fact_id,
                new_value,
                text,
                version,
                ..
            } => {
                if let Some(fact) = self.live.get_mut(&fact_id) {
                    self.index
                        .remove(fact_id, &fact.key, &fact.value.match_key());
                    self.index.insert(fact_id, &fact.key, new_value.match_key());
                    fact.value = new_value;
                    fact.text = text;
                    fact.version = version;
                }
            }
            UserMemoryEvent::FactRetracted { fact_id, .. } => {
                if let Some(fact) = self.live.remove(&fact_id) {
                    self.index
                        .remove(fact_id, &fact.key, &fact.value.match_key());
                }
                self.retracted.insert(fact_id);
            }
            UserMemoryEvent::ExtractionApplied { job_id, counts } => {
                self.applied_jobs.insert(job_id, counts);
            }
            UserMemoryEvent::UserForgotten { .. } => {
                self.live.clear();
                self.index.clear();
            }
        }
    }
}
