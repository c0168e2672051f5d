//! The safety net under the job queue (scaled out). A job the read side still shows `queued`
//! or `running` long after its last sign of life has most likely lost its message: a broker
//! that dropped it, or a give-up whose dead letter could not be published. It is published
//! again. Dispatching again is always safe, because a job that was in fact still waiting or
//! running meets its second message as a duplicate; it is done only when nothing waits on the
//! work queue (otherwise the job may simply be in a backlog), and a bounded number at a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pika_domain::job_queue::{JobMessage, JobPublisher};
use pika_projections::read_store::ReadStore;
use pika_worker::amqp::AmqpJobQueue;
use tokio::sync::watch;
use tracing::{Instrument, info_span, warn};

/// Jobs published again per sweep, so a read side far behind cannot flood the queue.
const SWEEP_LIMIT: i64 = 200;

#[derive(Debug)]
pub(crate) struct JobRedispatch {
    reads: Arc<dyn ReadStore>,
    queue: Arc<AmqpJobQueue>,
    /// How long a job may show no sign of life before it counts as stranded: longer than a
    /// job's retries with their backoff take.
    after: Duration,
}

impl JobRedispatch {
    pub(crate) fn new(
        reads: Arc<dyn ReadStore>,
        queue: Arc<AmqpJobQueue>,
        after: Duration,
    ) -> Self {
        Self {
            reads,
            queue,
            after,
        }
    }

    /// Sweeps every quarter of the deadline (at most once a minute) until `stopped`.
    pub(crate) async fn run(self, mut stopped: watch::Receiver<bool>) {
        let every = (self.after / 4).clamp(Duration::from_millis(250), Duration::from_secs(60));
        while !*stopped.borrow() {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stopped.changed() => continue,
            }
            match self.sweep().instrument(info_span!("job_redispatch")).await {
                Ok(0) => {}
                Ok(jobs) => warn!(jobs, "stranded jobs dispatched again"),
                Err(error) => warn!(%error, "cannot look for stranded jobs; trying again later"),
            }
        }
    }

    /// Publishes again the jobs stranded now; returns how many.
    pub(crate) async fn sweep(&self) -> Result<usize, String> {
        let waiting = self.queue.message_count(&self.queue.names().work).await?;
        if waiting > 0 {
            return Ok(0);
        }
        let deadline = chrono::Duration::from_std(self.after).map_err(|e| e.to_string())?;
        let stranded = self
            .reads
            .unfinished_jobs_before(Utc::now() - deadline, SWEEP_LIMIT)
            .await
            .map_err(|e| e.to_string())?;
        for job in &stranded {
            let message = JobMessage::new(job.tenant.clone(), job.job_id, job.user_id.clone());
            self.queue.publish(&message).await?;
            metrics::counter!("pika_jobs_redispatched_total").increment(1);
        }
        Ok(stranded.len())
    }
}
