//! The job-queue port: how a submitted extraction job reaches a worker. The read side's outbox
//! relay publishes through it; the worker consumes what it carries. Adapters (RabbitMQ, the
//! embedded queue) live in the outer ring.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What goes on the job queue: just enough to find the job in the event store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub tenant: String,
    pub job_id: Uuid,
}

/// Where submitted jobs are sent. `publish` returns only once the queue has taken
/// responsibility for the message (a publisher confirm), so the relay's checkpoint never
/// moves past a job that was not handed over.
#[async_trait]
pub trait JobPublisher: Send + Sync {
    async fn publish(&self, job: &JobMessage) -> Result<(), String>;
}
