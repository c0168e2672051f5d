//! The cache-invalidation projection: after the read models change a user, bump the user's
//! generation in Redis and announce it on pub/sub.
//!
//! Run by the projection daemon like any read model, so an invalidation is never lost: while
//! Redis is down the projection stops at the first user it could not invalidate and resumes
//! there, and jobs are not reported finished before their users' caches were invalidated.

use crate::decode::DomainEvent;
use crate::writes::ReadModelWrites;
use crate::{ChangedUser, Projection, ProjectionError, RecordedEvent, TableSet};
use async_trait::async_trait;
use pika_domain::UserMemoryEvent;

use super::cache::RedisCache;

#[derive(Debug, Clone)]
pub struct CacheInvalidation {
    redis: RedisCache,
}

impl CacheInvalidation {
    pub const NAME: &'static str = "cache_invalidation";

    pub fn new(redis: RedisCache) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl Projection for CacheInvalidation {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn after(&self) -> &'static [&'static str] {
        &["facts", "user_favorite_summary", "episodes"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["UserMemory"]
    }

    fn reads_personal_data(&self) -> bool {
        false
    }

    async fn apply(
        &self,
        _writes: &mut dyn ReadModelWrites,
        _tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError> {
        let DomainEvent::UserMemory {
            tenant,
            user_id,
            event: user_event,
        } = decoded
        else {
            return Ok(None);
        };
        let unavailable = |detail: String| ProjectionError::Unavailable {
            position: event.position.global_position,
            detail: format!("cache invalidation: {detail}"),
        };
        self.redis
            .invalidate_user(tenant.as_str(), user_id.as_str())
            .await
            .map_err(unavailable)?;
        if matches!(user_event, UserMemoryEvent::UserForgotten { .. }) {
            self.redis
                .purge_user(tenant.as_str(), user_id.as_str())
                .await
                .map_err(unavailable)?;
        }
        Ok(None)
    }
}

/// Drops L0 entries when any process announces a user changed. Only memory depends on it:
/// stale entries are unreachable by their generation whether or not the message arrives.
pub async fn evict_on_announcements(
    redis: RedisCache,
    service: std::sync::Arc<super::service::SearchService>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use futures_util::StreamExt;
    let channel = redis.invalidation_channel();
    while !*shutdown.borrow() {
        let subscribed = async {
            let mut pubsub = redis.client().get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        let mut pubsub = match subscribed {
            Ok(pubsub) => pubsub,
            Err(_) => {
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        let payload: String = message.get_payload().unwrap_or_default();
                        if let Some((tenant, user)) = payload.split_once('/') {
                            service.forget_user(tenant, user);
                        }
                    }
                    None => break,
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}
