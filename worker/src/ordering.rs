//! Many jobs in flight, each user's applied in the order they were delivered.
//!
//! Extraction is mostly waiting (an LLM call takes seconds), so a worker runs many jobs at
//! once. Two jobs of one user must still change the memory in the order they were
//! submitted: "my favourite colour is red", then "no, blue" must leave blue. Each job joins
//! its user's line when it is taken off the queue (in queue order); it may extract at once
//! but applies its changes only after the job ahead of it in the line has finished, however
//! that one ended. A job retried through the backoff joins the line again at its back.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use pika_domain::job_queue::JobMessage;
use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

/// Lines kept before finished ones are swept out; each live line is one job in flight.
const SWEEP_AT: usize = 1024;

/// A job's place in its user's line. Dropping it (the job has finished) lets the next one go.
#[derive(Debug)]
pub struct Turn {
    ahead: Option<oneshot::Receiver<()>>,
    _done: Option<oneshot::Sender<()>>,
}

impl Turn {
    /// A job that waits for nobody: run on its own, or of no known user.
    pub fn alone() -> Self {
        Self {
            ahead: None,
            _done: None,
        }
    }

    /// Returns once the job ahead in the line has finished (at once when there is none).
    pub async fn wait(&mut self) {
        if let Some(ahead) = self.ahead.take() {
            // The sender is only ever dropped, never used: either way the job ahead is done.
            let _finished = ahead.await;
        }
    }
}

/// The users' lines of one worker process.
#[derive(Debug, Default)]
pub struct UserLines {
    /// Per line, the signal of its last job.
    last: Mutex<HashMap<String, oneshot::Receiver<()>>>,
}

impl UserLines {
    /// Puts the job carried by `payload` at the back of its user's line. Called in the order
    /// jobs are taken off the queue; a payload that names no user waits for nobody.
    pub fn join(&self, payload: &[u8]) -> Turn {
        let Ok(message) = serde_json::from_slice::<JobMessage>(payload) else {
            return Turn::alone();
        };
        let (done, finished) = oneshot::channel();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() >= SWEEP_AT {
            last.retain(|_, signal| matches!(signal.try_recv(), Err(TryRecvError::Empty)));
        }
        let ahead = last.insert(message.ordering_key(), finished);
        Turn {
            ahead,
            _done: Some(done),
        }
    }

    /// Lines whose last job may still be running (for tests: finished lines are swept).
    pub fn lines(&self) -> usize {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;

    fn payload(tenant: &str, user: &str) -> Vec<u8> {
        serde_json::to_vec(&JobMessage::new(tenant, Uuid::now_v7(), user)).unwrap()
    }

    async fn goes(turn: &mut Turn) -> bool {
        tokio::time::timeout(Duration::from_millis(50), turn.wait())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_users_second_job_waits_until_the_first_has_finished() {
        let lines = UserLines::default();
        let mut first = lines.join(&payload("t", "kid"));
        let mut second = lines.join(&payload("t", "kid"));
        assert!(goes(&mut first).await);
        assert!(!goes(&mut second).await);
        drop(first);
        assert!(goes(&mut second).await);
    }

    #[tokio::test]
    async fn other_users_and_other_tenants_do_not_wait() {
        let lines = UserLines::default();
        let _first = lines.join(&payload("t", "kid"));
        assert!(goes(&mut lines.join(&payload("t", "other-kid"))).await);
        assert!(goes(&mut lines.join(&payload("u", "kid"))).await);
        let no_user =
            serde_json::to_vec(&serde_json::json!({"tenant": "t", "job_id": Uuid::now_v7()}));
        assert!(goes(&mut lines.join(&no_user.unwrap())).await);
        assert!(goes(&mut lines.join(b"not a message")).await);
    }

    #[tokio::test]
    async fn finished_lines_are_swept_out() {
        let lines = UserLines::default();
        let live = lines.join(&payload("t", "still-running"));
        for n in 0..SWEEP_AT + 1 {
            drop(lines.join(&payload("t", &format!("kid-{n}"))));
        }
        assert!(lines.lines() < 10, "{} lines kept", lines.lines());
        let mut next = lines.join(&payload("t", "still-running"));
        assert!(!goes(&mut next).await, "a live line is kept");
        drop(live);
        assert!(goes(&mut next).await);
    }
}
