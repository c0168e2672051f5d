//! The `ExtractionJob` aggregate: the life of one conversation sent for extraction.
//!
//! Accepting a job is a commit in the event store, so a job the API answered 202 for can never
//! be lost, whatever happens to the broker. The state machine refuses transitions that would
//! let a finished job run again or a dead letter come back to life.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::user_memory::{EVENT_VERSION, ExtractionCounts};
use crate::values::{TenantId, UserId, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    System,
}

/// One message of the conversation, NFC-normalised and bounded so one job cannot carry an
/// unbounded payload into the event store. The speaker's name and the time it was said are
/// optional and absent from events written before they existed: such a message was said at
/// its submission, by whoever its role names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    /// Who spoke, as the client names them ("Caroline"): a conversation between several
    /// people is searchable by speaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it was said; `None` means when the conversation was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
}

impl ChatMessage {
    pub const MAX_CONTENT_CHARS: usize = 8_000;

    pub fn new(role: Role, content: &str) -> Result<Self, ValidationError> {
        let content: String = content.nfc().collect();
        let chars = content.chars().count();
        if content.trim().is_empty() || chars > Self::MAX_CONTENT_CHARS {
            return Err(ValidationError::new(
                "content",
                format!("must be 1 to {} characters", Self::MAX_CONTENT_CHARS),
            ));
        }
        Ok(Self {
            role,
            content,
            name: None,
            sent_at: None,
        })
    }

    pub const MAX_NAME_CHARS: usize = 64;

    /// The speaker's name, NFC-normalised and trimmed: 1 to `MAX_NAME_CHARS` characters.
    pub fn with_name(mut self, name: &str) -> Result<Self, ValidationError> {
        let name: String = name.trim().nfc().collect();
        if name.is_empty() || name.chars().count() > Self::MAX_NAME_CHARS {
            return Err(ValidationError::new(
                "name",
                format!("must be 1 to {} characters", Self::MAX_NAME_CHARS),
            ));
        }
        self.name = Some(name);
        Ok(self)
    }

    pub fn with_sent_at(mut self, at: DateTime<Utc>) -> Self {
        self.sent_at = Some(at);
        self
    }
}

/// The messages of one job: 1 to `MAX_MESSAGES` of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<ChatMessage>", into = "Vec<ChatMessage>")]
pub struct Conversation(Vec<ChatMessage>);

impl Conversation {
    pub const MAX_MESSAGES: usize = 200;

    pub fn new(messages: Vec<ChatMessage>) -> Result<Self, ValidationError> {
        if messages.is_empty() || messages.len() > Self::MAX_MESSAGES {
            return Err(ValidationError::new(
                "messages",
                format!("must hold 1 to {} messages", Self::MAX_MESSAGES),
            ));
        }
        Ok(Self(messages))
    }

    pub fn messages(&self) -> &[ChatMessage] {
        &self.0
    }
}

impl TryFrom<Vec<ChatMessage>> for Conversation {
    type Error = ValidationError;
    fn try_from(value: Vec<ChatMessage>) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Conversation> for Vec<ChatMessage> {
    fn from(value: Conversation) -> Self {
        value.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// No `Submit` yet: the id names no job.
    #[default]
    Unknown,
    Queued,
    Running,
    Completed,
    Failed,
    DeadLettered,
    /// Not run: its user was forgotten before a worker took it, so what was said is gone.
    Skipped,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExtractionJobCommand {
    Submit {
        tenant: TenantId,
        user_id: UserId,
        conversation: Conversation,
        metadata: serde_json::Value,
        idempotency_key: Option<String>,
        /// `false` keeps the conversation as episodes without reading facts from it (Mem0's
        /// `infer: false`).
        extract_facts: bool,
    },
    /// A worker took the job. Also legal while `Running`: a worker that died before it acked
    /// leaves the job running, and the redelivered message must be able to start it again.
    Start,
    Complete {
        counts: ExtractionCounts,
    },
    Fail {
        error: String,
        retryable: bool,
    },
    DeadLetter {
        reason: String,
    },
    /// The job will not run, and that is no failure (its user was forgotten).
    Skip {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExtractionJobEvent {
    Submitted {
        tenant: TenantId,
        user_id: UserId,
        conversation: Conversation,
        metadata: serde_json::Value,
        idempotency_key: Option<String>,
        /// Absent in events written before it existed, and whenever it is `true`, so those
        /// events read as they always did.
        #[serde(default = "extract_by_default", skip_serializing_if = "is_true")]
        extract_facts: bool,
    },
    Started {
        attempt: u32,
    },
    Completed {
        counts: ExtractionCounts,
    },
    Failed {
        attempt: u32,
        error: String,
        retryable: bool,
    },
    DeadLettered {
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

impl DomainEvent for ExtractionJobEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Submitted { .. } => "Submitted",
            Self::Started { .. } => "Started",
            Self::Completed { .. } => "Completed",
            Self::Failed { .. } => "Failed",
            Self::DeadLettered { .. } => "DeadLettered",
            Self::Skipped { .. } => "Skipped",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractionJobError {
    #[error("no such job")]
    UnknownJob,
    #[error("the job was already submitted")]
    AlreadySubmitted,
    #[error("the job cannot {action} while it is {status:?}")]
    IllegalTransition {
        action: &'static str,
        status: JobStatus,
    },
    #[error("{0}")]
    Invalid(#[from] ValidationError),
}

/// What was submitted: kept in the aggregate so a worker holding only the job id can run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSubmission {
    pub tenant: TenantId,
    pub user_id: UserId,
    pub conversation: Conversation,
    /// `false` when the conversation is kept as turns only (Mem0's `infer: false`); absent,
    /// and so `true`, in snapshots written before it existed.
    #[serde(default = "extract_by_default")]
    pub extract_facts: bool,
}

impl JobSubmission {
    /// Whether the conversation was shredded: its user was forgotten after it was submitted,
    /// and it reads as the placeholder `personal_data` leaves.
    pub fn was_shredded(&self) -> bool {
        matches!(self.conversation.messages(), [only]
            if only.role == Role::System
                && only.content == crate::personal_data::FORGOTTEN_TEXT
                && only.name.is_none())
    }
}

fn extract_by_default() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_true(value: &bool) -> bool {
    *value
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractionJob {
    status: JobStatus,
    attempts: u32,
    retryable: bool,
    submission: Option<JobSubmission>,
}

impl ExtractionJob {
    pub const MAX_ERROR_CHARS: usize = 2_000;
    pub const MAX_METADATA_BYTES: usize = 16 * 1024;

    pub fn status(&self) -> JobStatus {
        self.status
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn submission(&self) -> Option<&JobSubmission> {
        self.submission.as_ref()
    }

    fn refuse(&self, action: &'static str) -> ExtractionJobError {
        match self.status {
            JobStatus::Unknown => ExtractionJobError::UnknownJob,
            status => ExtractionJobError::IllegalTransition { action, status },
        }
    }
}

/// Long error texts (a whole LLM answer, say) are cut so an event stays small.
fn bounded(text: String) -> String {
    if text.chars().count() <= ExtractionJob::MAX_ERROR_CHARS {
        return text;
    }
    text.chars().take(ExtractionJob::MAX_ERROR_CHARS).collect()
}

impl Aggregate for ExtractionJob {
    const TYPE: &'static str = "ExtractionJob";
    type Command = ExtractionJobCommand;
    type Event = ExtractionJobEvent;
    type Error = ExtractionJobError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use JobStatus as S;
        let event = match (command, self.status) {
            (ExtractionJobCommand::Submit { .. }, status) if status != S::Unknown => {
                return Err(ExtractionJobError::AlreadySubmitted);
            }
            (
                ExtractionJobCommand::Submit {
                    tenant,
                    user_id,
                    conversation,
                    metadata,
                    idempotency_key,
                    extract_facts,
                },
                _,
            ) => {
                if metadata.to_string().len() > Self::MAX_METADATA_BYTES {
                    return Err(ValidationError::new(
                        "metadata",
                        format!("at most {} bytes", Self::MAX_METADATA_BYTES),
                    )
                    .into());
                }
                ExtractionJobEvent::Submitted {
                    tenant,
                    user_id,
                    conversation,
                    metadata,
                    idempotency_key,
                    extract_facts,
                }
            }
            (ExtractionJobCommand::Start, S::Queued | S::Running) => ExtractionJobEvent::Started {
                attempt: self.attempts + 1,
            },
            (ExtractionJobCommand::Start, S::Failed) if self.retryable => {
                ExtractionJobEvent::Started {
                    attempt: self.attempts + 1,
                }
            }
            (ExtractionJobCommand::Start, _) => return Err(self.refuse("start")),
            (ExtractionJobCommand::Complete { counts }, S::Running) => {
                ExtractionJobEvent::Completed { counts }
            }
            (ExtractionJobCommand::Complete { .. }, _) => return Err(self.refuse("complete")),
            (ExtractionJobCommand::Fail { error, retryable }, S::Running) => {
                ExtractionJobEvent::Failed {
                    attempt: self.attempts,
                    error: bounded(error),
                    retryable,
                }
            }
            (ExtractionJobCommand::Fail { .. }, _) => return Err(self.refuse("fail")),
            (ExtractionJobCommand::DeadLetter { reason }, S::Queued | S::Running | S::Failed) => {
                ExtractionJobEvent::DeadLettered {
                    reason: bounded(reason),
                }
            }
            (ExtractionJobCommand::DeadLetter { .. }, _) => {
                return Err(self.refuse("be dead-lettered"));
            }
            (ExtractionJobCommand::Skip { reason }, S::Queued | S::Running | S::Failed) => {
                ExtractionJobEvent::Skipped {
                    reason: bounded(reason),
                }
            }
            (ExtractionJobCommand::Skip { .. }, _) => return Err(self.refuse("be skipped")),
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ExtractionJobEvent::Submitted {
                tenant,
                user_id,
                conversation,
                extract_facts,
                ..
            } => {
                self.status = JobStatus::Queued;
                self.submission = Some(JobSubmission {
                    tenant,
                    user_id,
                    conversation,
                    extract_facts,
                });
            }
            ExtractionJobEvent::Started { attempt } => {
                self.status = JobStatus::Running;
                self.attempts = attempt;
            }
            ExtractionJobEvent::Completed { .. } => self.status = JobStatus::Completed,
            ExtractionJobEvent::Failed { retryable, .. } => {
                self.status = JobStatus::Failed;
                self.retryable = retryable;
            }
            ExtractionJobEvent::DeadLettered { .. } => self.status = JobStatus::DeadLettered,
            ExtractionJobEvent::Skipped { .. } => self.status = JobStatus::Skipped,
        }
    }
}
