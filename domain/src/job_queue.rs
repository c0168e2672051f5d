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
    /// Whose memory the job changes, so a worker running many jobs at once can still apply
    /// one user's jobs in the order they were submitted. Absent from messages queued before
    /// it was added: those run unordered, as every job did then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl JobMessage {
    pub fn new(tenant: impl Into<String>, job_id: Uuid, user_id: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            job_id,
            user_id: Some(user_id.into()),
        }
    }

    /// The line a worker keeps this job in: the user's, or the job's own when the message
    /// does not say whose it is.
    pub fn ordering_key(&self) -> String {
        match &self.user_id {
            Some(user) => format!("{}/{user}", self.tenant),
            None => format!("{}/job/{}", self.tenant, self.job_id),
        }
    }
}

/// Where submitted jobs are sent. `publish` returns only once the queue has taken
/// responsibility for the message (a publisher confirm), so the relay's checkpoint never
/// moves past a job that was not handed over.
#[async_trait]
pub trait JobPublisher: Send + Sync {
    async fn publish(&self, job: &JobMessage) -> Result<(), String>;
}
