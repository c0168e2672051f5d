//! Redis access for the cache chain, with the outage bookkeeping that keeps it honest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long one cache call may take before the cache counts as down for that request.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The versions a cached answer is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheVersions {
    pub epoch: i64,
    pub generation: i64,
}

/// After a failed connection attempt or call, calls fail at once for this long instead of
/// each reconnecting and waiting out a timeout: while Redis is down, requests stay fast (one
/// request per this interval pays the timeout, to find out whether it is back).
const RETRY_CONNECT_AFTER: Duration = Duration::from_millis(500);

/// The shared connection, or when the next attempt to make one may happen.
#[derive(Default)]
struct Link {
    connection: Option<MultiplexedConnection>,
    retry_at: Option<Instant>,
}

/// A Redis connection made lazily (the service starts with Redis down), replaced after an
/// error, and that remembers an outage: after one, the global epoch is bumped before the cache
/// is trusted again, since this process cannot know which users changed meanwhile.
#[derive(Clone)]
pub struct RedisCache {
    client: redis::Client,
    prefix: String,
    link: Arc<Mutex<Link>>,
    outage: Arc<AtomicBool>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

type RedisResult<T> = Result<T, String>;

impl RedisCache {
    pub fn new(client: redis::Client, prefix: &str) -> Self {
        Self {
            client,
            prefix: prefix.to_owned(),
            link: Arc::new(Mutex::new(Link::default())),
            outage: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    pub fn invalidation_channel(&self) -> String {
        self.key(&["invalidate"])
    }

    fn user_generation_key(&self, tenant: &str, user: &str) -> String {
        self.key(&["gen", tenant, user])
    }

    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        let mut link = self.link.lock().await;
        if let Some(connection) = &link.connection {
            return Ok(connection.clone());
        }
        if link.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err("redis unavailable".into());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let connected = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await;
        match connected {
            Ok(Ok(connection)) => {
                link.connection = Some(connection.clone());
                link.retry_at = None;
                Ok(connection)
            }
            Ok(Err(error)) => {
                link.retry_at = Some(Instant::now() + RETRY_CONNECT_AFTER);
                Err(error.to_string())
            }
            Err(_) => {
                link.retry_at = Some(Instant::now() + RETRY_CONNECT_AFTER);
                Err("redis did not answer".into())
            }
        }
    }

    /// Runs one Redis call within the timeout; a failure drops the connection, marks an
    /// outage and makes calls fail at once for `RETRY_CONNECT_AFTER`. A call refused in that
    /// time does not extend it, so the first call after it tries again.
    async fn call<T>(
        &self,
        call: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> RedisResult<T> {
        let mut connection = match self.connection().await {
            Ok(connection) => connection,
            Err(error) => {
                self.note_outage(&error);
                return Err(error);
            }
        };
        let result = async {
            if self.outage.load(Ordering::SeqCst) {
                // Back after an outage: everything cached before is suspect.
                Self::incr_epoch(&self.key(&["epoch"]), &mut connection).await?;
                self.outage.store(false, Ordering::SeqCst);
                tracing::info!("redis is back; cache epoch bumped");
            }
            tokio::time::timeout(REDIS_TIMEOUT, call(&mut connection))
                .await
                .map_err(|_| "redis did not answer".to_owned())?
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(error) = &result {
            let mut link = self.link.lock().await;
            link.connection = None;
            link.retry_at = Some(Instant::now() + RETRY_CONNECT_AFTER);
            drop(link);
            self.note_outage(error);
        }
        result
    }

    fn note_outage(&self, error: &str) {
        if !self.outage.swap(true, Ordering::SeqCst) {
            tracing::warn!(%error, "redis unreachable; serving from Postgres");
        }
        metrics::counter!("pika_redis_errors_total").increment(1);
    }

    async fn incr_epoch(key: &str, connection: &mut MultiplexedConnection) -> RedisResult<i64> {
        tokio::time::timeout(REDIS_TIMEOUT, connection.incr(key, 1))
            .await
            .map_err(|_| "redis did not answer".to_owned())?
            .map_err(|e| e.to_string())
    }

    /// Makes everything every process cached unreachable (answers, and the indexes refreshed
    /// from them): after the read models were rebuilt, rows may differ at the same positions.
    pub async fn bump_epoch(&self) -> RedisResult<i64> {
        let key = self.key(&["epoch"]);
        self.call(async |c| c.incr(&key, 1).await).await
    }

    /// The epoch and the user's generation, in one round trip.
    pub async fn versions(&self, tenant: &str, user: &str) -> RedisResult<CacheVersions> {
        let keys = [self.key(&["epoch"]), self.user_generation_key(tenant, user)];
        let values: Vec<Option<i64>> = self.call(async |c| c.mget(&keys).await).await?;
        Ok(CacheVersions {
            epoch: values.first().copied().flatten().unwrap_or(0),
            generation: values.get(1).copied().flatten().unwrap_or(0),
        })
    }

    pub async fn get_bytes(&self, key: &str) -> RedisResult<Option<Vec<u8>>> {
        self.call(async |c| c.get(key).await).await
    }

    pub async fn set_bytes(&self, key: &str, value: &[u8], ttl: Duration) -> RedisResult<()> {
        self.call(async |c| c.set_ex(key, value, ttl.as_secs().max(1)).await)
            .await
    }

    /// Makes every cached answer for the user unreachable and tells other processes to drop
    /// their L0 entries.
    pub async fn invalidate_user(&self, tenant: &str, user: &str) -> RedisResult<()> {
        let key = self.user_generation_key(tenant, user);
        let channel = self.invalidation_channel();
        let message = format!("{tenant}/{user}");
        self.call(async |c| {
            redis::pipe()
                .incr(&key, 1)
                .ignore()
                .publish(&channel, &message)
                .ignore()
                .query_async::<()>(c)
                .await
        })
        .await
    }

    /// Deletes every cached answer of the user, whatever its version: a forgotten user's
    /// words must leave Redis now, not when their TTL runs out. One SCAN of the keyspace per
    /// forget (rare), in pages, each page within the call timeout.
    pub async fn purge_user(&self, tenant: &str, user: &str) -> RedisResult<u64> {
        let pattern = format!("{}:search:*:{tenant}/{user}/*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .call(async |c| {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(c)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                deleted += self.call(async |c| c.del::<_, u64>(&keys).await).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}
