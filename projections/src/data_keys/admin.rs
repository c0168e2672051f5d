//! What an operator does to personal data beyond serving it: seal a log written before
//! sealing existed (the one rewrite of the log), rotate the master key, and shred old
//! conversations (retention). The steps are written once here; each backend answers the
//! [`PersonalDataAdmin`] queries.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use pika_domain::personal_data::{
    EventIdentity, event_owner, seal_event, seal_snapshot, snapshot_owner,
};
use pika_domain::{DataKey, DataKeyStore, KeyStoreError, MasterKey};
use serde_json::Value;
use uuid::Uuid;

use crate::ProjectionError;

/// The name the sealing rewrite is recorded under in `log_rewrites`.
pub const SEAL_REWRITE: &str = "seal-personal-data";

/// Events read per batch while sealing; each batch is written in one transaction.
const SEAL_BATCH: u32 = 500;

/// An event whose personal fields are still in clear text.
#[derive(Debug, Clone)]
pub struct ClearEvent {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub payload: Value,
    pub at: DateTime<Utc>,
    /// Its owner was forgotten after it was written: it is sealed with a key no one keeps.
    pub forgotten_later: bool,
}

/// A `UserMemory` snapshot still in clear text.
#[derive(Debug, Clone)]
pub struct ClearSnapshot {
    pub aggregate_id: String,
    pub payload: Value,
    pub forgotten_later: bool,
}

#[async_trait]
pub trait PersonalDataAdmin: Send + Sync + std::fmt::Debug {
    /// Wraps every data key with `new` instead, in one transaction; how many keys moved.
    async fn rotate_master_key(&self, new: &MasterKey) -> Result<u64, KeyStoreError>;
    /// How many events still hold personal fields in clear text.
    async fn count_clear_events(&self) -> Result<u64, ProjectionError>;
    /// Up to `limit` of them after `after`, in log order.
    async fn clear_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ClearEvent>, ProjectionError>;
    /// Replaces payloads by global position, all in one transaction.
    async fn replace_payloads(&self, sealed: &[(i64, Value)]) -> Result<(), ProjectionError>;
    async fn clear_snapshots(&self) -> Result<Vec<ClearSnapshot>, ProjectionError>;
    async fn replace_snapshot(
        &self,
        aggregate_id: &str,
        payload: &Value,
    ) -> Result<(), ProjectionError>;
    /// Notes a rewrite of the log in `log_rewrites`: started (once), then finished.
    async fn record_rewrite(
        &self,
        name: &str,
        events: u64,
        finished: bool,
    ) -> Result<(), ProjectionError>;
    /// Destroys the keys of conversations stored before `day` (of `tenant`, or of every tenant
    /// but those in `except` for `None`) and deletes the turns kept from them and their vectors. Facts stay.
    /// Returns how many keys were destroyed.
    async fn shred_conversations_before(
        &self,
        tenant: Option<&str>,
        except: &[String],
        day: NaiveDate,
    ) -> Result<u64, ProjectionError>;
    fn keys(&self) -> Arc<dyn DataKeyStore>;
}

/// What sealing an old log did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SealReport {
    pub events: u64,
    pub shredded: u64,
    pub snapshots: u64,
}

/// Seals every event and snapshot still in clear text, batch by batch: stopped, it resumes
/// where it was (a sealed event is never read as clear again), and running it again seals
/// nothing. What belonged to a user forgotten before sealing existed is sealed with a key
/// that is thrown away at once: their words become as unreadable as a forget makes them now.
pub async fn seal_clear_log(
    admin: &dyn PersonalDataAdmin,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<SealReport, ProjectionError> {
    admin.record_rewrite(SEAL_REWRITE, 0, false).await?;
    let keys = admin.keys();
    let mut report = SealReport::default();
    let mut after = 0;
    loop {
        let batch = admin.clear_events_after(after, SEAL_BATCH).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.position;
        let mut sealed = Vec::with_capacity(batch.len());
        for mut event in batch {
            let Some((owner, scope)) = event_owner(
                &event.aggregate_type,
                &event.aggregate_id,
                &event.event_type,
                &event.payload,
                event.at,
            ) else {
                continue;
            };
            let (key_id, key) = if event.forgotten_later {
                report.shredded += 1;
                (Uuid::now_v7(), DataKey::generate())
            } else {
                keys.sealing_key(&owner, &scope).await?
            };
            let identity = EventIdentity {
                aggregate_type: &event.aggregate_type,
                aggregate_id: &event.aggregate_id,
                sequence: event.sequence,
            };
            seal_event(
                identity,
                &event.event_type,
                &mut event.payload,
                key_id,
                &key,
            );
            sealed.push((event.position, event.payload));
        }
        admin.replace_payloads(&sealed).await?;
        report.events += sealed.len() as u64;
        progress(sealed.len() as u64);
    }
    for snapshot in admin.clear_snapshots().await? {
        let Some((owner, scope)) = snapshot_owner("UserMemory", &snapshot.aggregate_id) else {
            continue;
        };
        let (key_id, key) = if snapshot.forgotten_later {
            (Uuid::now_v7(), DataKey::generate())
        } else {
            keys.sealing_key(&owner, &scope).await?
        };
        let sealed = seal_snapshot(
            "UserMemory",
            &snapshot.aggregate_id,
            &snapshot.payload,
            key_id,
            &key,
        );
        admin
            .replace_snapshot(&snapshot.aggregate_id, &sealed)
            .await?;
        report.snapshots += 1;
    }
    admin
        .record_rewrite(SEAL_REWRITE, report.events, true)
        .await?;
    Ok(report)
}

/// A tenant's retention: conversations older than `days` are shredded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// `None`: every tenant without a rule of its own.
    pub tenant: Option<String>,
    pub days: u32,
}

/// Applies each retention rule once: conversations stored on days wholly older than the
/// rule's age are shredded. Returns how many keys were destroyed.
pub async fn apply_retention(
    admin: &dyn PersonalDataAdmin,
    rules: &[Retention],
    now: DateTime<Utc>,
) -> Result<u64, ProjectionError> {
    let own_rules: Vec<String> = rules.iter().filter_map(|r| r.tenant.clone()).collect();
    let mut destroyed = 0;
    for rule in rules {
        let cutoff = (now - chrono::Duration::days(i64::from(rule.days))).date_naive();
        destroyed += admin
            .shred_conversations_before(rule.tenant.as_deref(), &own_rules, cutoff)
            .await?;
    }
    Ok(destroyed)
}
