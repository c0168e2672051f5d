//! Conversation retention: the worker shreds conversations older than each tenant's limit
//! (`PIKA_CONVERSATION_RETENTION`) once an hour, starting at once.

use std::sync::Arc;
use std::time::Duration;

use pika_projections::data_keys::{PersonalDataAdmin, Retention, apply_retention};
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(3600);

pub async fn run_hourly(
    admin: Arc<dyn PersonalDataAdmin>,
    rules: Vec<Retention>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        match apply_retention(admin.as_ref(), &rules, chrono::Utc::now()).await {
            Ok(destroyed) => {
                metrics::counter!("pika_retention_keys_destroyed_total").increment(destroyed);
                tracing::info!(destroyed, "conversation retention applied");
            }
            // Tried again within the hour; nothing is lost by waiting, only kept a while longer.
            Err(error) => {
                tracing::warn!(%error, "conversation retention could not run; retrying next hour")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = stopped.changed() => return,
        }
    }
}
