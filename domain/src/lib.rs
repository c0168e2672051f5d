//! The pure core of PIKA Memory: value objects, the `UserMemory` and `ExtractionJob`
//! aggregates, their commands, events and errors. No I/O lives here, so every rule can be
//! tested given/when/then without a database.

pub mod backoff;
pub mod embedding;
pub mod extraction_job;
pub mod job_queue;
mod live_fact_index;
pub mod personal_data;
pub mod user_memory;
pub mod values;

pub use backoff::Backoff;
pub use embedding::{
    Embedder, EmbeddingCache, EmbeddingError, SimilarityScale, fact_passage, vector_from_bytes,
    vector_to_bytes,
};
pub use extraction_job::{
    ChatMessage, Conversation, ExtractionJob, ExtractionJobCommand, ExtractionJobError,
    ExtractionJobEvent, JobStatus, JobSubmission, Role,
};
pub use personal_data::{
    DataKey, DataKeyStore, EventIdentity, KeyScope, KeyStoreError, MasterKey, Opened, SealError,
    SealedRecord, SealingKey, UnstoredDataKey, open_records,
};
pub use user_memory::{
    EVENT_VERSION, ExtractionCounts, FactCandidate, FactCorrection, FactOperation, FactSource,
    LiveFact, RetractReason, UserMemory, UserMemoryCommand, UserMemoryError, UserMemoryEvent,
};
pub use values::{
    Cardinality, Confidence, FactId, FactKey, FactKind, FactText, FactValue, JobId, Language,
    Sentiment, TenantId, UserId, ValidationError, extraction_job_id, fold_for_match,
    user_memory_id,
};
