//! The search and favourites answers, through L0 → L1 → (L2 | L3 + L4).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ProjectionError;
use crate::ReadStore;
use crate::search::{QueryVector, ScoredMemory, SearchFilter, UserIndex, rank};
use bytes::Bytes;
use pika_domain::Embedder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cache::{CacheVersions, RedisCache};

/// Part of every L1 key: a release that changes the stored form of answers changes it, so it
/// never reads another release's bytes.
const L1_FORMAT: &str = "v3";
/// How long an L1 answer may live; a change makes it unreachable long before.
const L1_TTL: Duration = Duration::from_secs(600);
/// Query vectors are deterministic for a model, so they may live a day.
const L3_TTL: Duration = Duration::from_secs(24 * 3600);
/// L0 entries are checked against the generation on every hit; the TTL only bounds memory.
const L0_TTL: Duration = Duration::from_secs(30);
/// L0 holds at most this many users' answers, each at most `L0_QUERIES_PER_USER`: 50,000
/// answers in all, as when they were one flat cache.
const L0_USERS: u64 = 1_000;
const L0_QUERIES_PER_USER: u64 = 50;
/// Held indexes are weighed by their memories (facts and turns), not counted: a user with
/// thousands holds as much as hundreds of small ones. 200,000 memories with 384-value vectors
/// are about 400 MiB at most (a count of users left it to the size of their memories).
const INDEX_FACTS: u64 = 200_000;
/// A held index is refreshed with only what changed, and read whole again after this long:
/// whatever a refresh cannot see (a row rewritten at the same position) lasts no longer than
/// an L1 answer.
const INDEX_FULL_LOAD_EVERY: Duration = L1_TTL;

/// A user's index with the version it is current for and when it was last read whole.
#[derive(Debug, Clone)]
struct HeldIndex {
    versions: CacheVersions,
    loaded_whole_at: Instant,
    index: Arc<UserIndex>,
}

/// What L0 holds for one user at one version of their facts. Keyed by user, so a change is
/// dropped with one exact invalidation, and an entry of another version is never answered
/// from (its `versions` must match the caller's).
#[derive(Debug)]
struct UserAnswers {
    versions: CacheVersions,
    by_query: moka::sync::Cache<String, Arc<SearchAnswer>>,
}

impl UserAnswers {
    fn new(versions: CacheVersions) -> Self {
        Self {
            versions,
            by_query: moka::sync::Cache::builder()
                .max_capacity(L0_QUERIES_PER_USER)
                .time_to_live(L0_TTL)
                .build(),
        }
    }
}

fn user_key(tenant: &str, user: &str) -> String {
    format!("{tenant}/{user}")
}
/// Query vectors kept in process (1.5 KiB each), in front of Redis's L3 when there is one: a
/// vector never goes stale (one model per process), a popular query costs no round trip, and
/// while Redis is away queries asked before are not embedded again.
const L3_LOCAL_ENTRIES: u64 = 20_000;

/// The embedded mode's cache versions: an epoch fixed per process run (and changed when
/// notifications were lost) and a counter per user, bumped after each committed change.
/// A cached answer's key holds both, so after a change the old answers cannot be found.
#[derive(Debug)]
struct LocalGenerations {
    epoch: std::sync::atomic::AtomicI64,
    by_user: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

impl Default for LocalGenerations {
    fn default() -> Self {
        Self {
            epoch: std::sync::atomic::AtomicI64::new(chrono::Utc::now().timestamp_micros()),
            by_user: std::sync::Mutex::default(),
        }
    }
}

impl LocalGenerations {
    fn user_key(tenant: &str, user: &str) -> String {
        format!("{tenant}/{user}")
    }

    fn versions(&self, tenant: &str, user: &str) -> CacheVersions {
        let generation = self
            .by_user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&Self::user_key(tenant, user))
            .copied()
            .unwrap_or(0);
        CacheVersions {
            epoch: self.epoch.load(std::sync::atomic::Ordering::SeqCst),
            generation,
        }
    }

    fn bump(&self, tenant: &str, user: &str) {
        *self
            .by_user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(Self::user_key(tenant, user))
            .or_insert(0) += 1;
    }
}

/// Which layer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layer {
    L0,
    L1,
    L2,
    L4,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::L0 => "L0",
            Self::L1 => "L1",
            Self::L2 => "L2",
            Self::L4 => "L4",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub tenant: String,
    pub user_id: String,
    pub query: String,
    pub limit: usize,
    pub filter: SearchFilter,
    pub min_score: f64,
}

impl SearchQuery {
    /// Everything that changes the answer, hashed, for the cache key.
    fn fingerprint(&self) -> String {
        let normalised = normalise_query(&self.query);
        let mut hasher = Sha256::new();
        hasher.update(normalised.as_bytes());
        hasher.update(format!(
            "\n{}\n{}\n{}",
            self.limit,
            self.filter.fingerprint(),
            self.min_score
        ));
        hex::encode(&hasher.finalize()[..16])
    }
}

/// Lower case, NFC, single spaces: the same question typed twice is one cache entry.
pub fn normalise_query(query: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    query
        .nfc()
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An answer as the JSON array of its results, serialised once when ranked: L0 and L1 hits
/// send these bytes as they are, so a hit costs no serialisation.
#[derive(Debug, Clone)]
pub struct SearchAnswer {
    pub results_json: Bytes,
}

impl SearchAnswer {
    fn new(results: &[ScoredMemory]) -> Result<Self, ProjectionError> {
        let json = serde_json::to_vec(results).map_err(|e| ProjectionError::Corrupt {
            position: 0,
            detail: format!("search results not serialisable: {e}"),
        })?;
        Ok(Self {
            results_json: Bytes::from(json),
        })
    }
}

pub struct SearchService {
    reads: Arc<dyn ReadStore>,
    embedder: Arc<dyn Embedder>,
    redis: Option<RedisCache>,
    /// Embedded mode: users' generations kept in process, bumped by the projector after each
    /// commit that changed the user. `None` with Redis, which keeps them for all processes.
    local: Option<LocalGenerations>,
    /// L3 in process: query text → vector.
    local_vectors: moka::future::Cache<String, Arc<Vec<f32>>>,
    /// L0, by user.
    answers: moka::sync::Cache<String, Arc<UserAnswers>>,
    /// Each user's facts ready to rank, with the version they were loaded at.
    indexes: moka::sync::Cache<String, HeldIndex>,
}

impl std::fmt::Debug for SearchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchService")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

fn record(layer: Layer, started: Instant) {
    metrics::counter!("pika_search_total", "layer" => layer.as_str()).increment(1);
    metrics::histogram!("pika_search_seconds", "layer" => layer.as_str())
        .record(started.elapsed().as_secs_f64());
}

impl SearchService {
    pub fn new(
        reads: Arc<dyn ReadStore>,
        embedder: Arc<dyn Embedder>,
        redis: Option<RedisCache>,
    ) -> Self {
        Self {
            reads,
            embedder,
            redis,
            local: None,
            local_vectors: moka::future::Cache::builder()
                .max_capacity(L3_LOCAL_ENTRIES)
                .time_to_live(L3_TTL)
                .build(),
            answers: moka::sync::Cache::builder()
                .max_capacity(L0_USERS)
                .time_to_live(L0_TTL)
                .build(),
            indexes: moka::sync::Cache::builder()
                .weigher(|_, held: &HeldIndex| {
                    u32::try_from(held.index.len()).unwrap_or(u32::MAX).max(1)
                })
                .max_capacity(INDEX_FACTS)
                .time_to_live(L1_TTL)
                .build(),
        }
    }

    /// The embedded mode's caches: one process, so the generations live here and every
    /// change reaches them through [`SearchService::user_changed`].
    pub fn with_local_generations(mut self) -> Self {
        self.local = Some(LocalGenerations::default());
        self
    }

    /// A user's facts changed (and are committed): answers cached for them are unreachable
    /// from now on.
    pub fn user_changed(&self, tenant: &str, user: &str) {
        if let Some(local) = &self.local {
            local.bump(tenant, user);
            self.forget_user(tenant, user);
        }
    }

    pub fn redis(&self) -> Option<&RedisCache> {
        self.redis.as_ref()
    }

    /// Drops the answers this process holds for a user (on a change). Correctness does not
    /// depend on it — entries of an old version are never answered from — it frees their
    /// memory early. The user's index is kept: the next search refreshes it with only what
    /// changed.
    pub fn forget_user(&self, tenant: &str, user: &str) {
        self.answers.invalidate(&user_key(tenant, user));
    }

    /// Whether answers are held for the user, for tests of the eviction.
    pub fn holds_answers_for(&self, tenant: &str, user: &str) -> bool {
        self.answers.contains_key(&user_key(tenant, user))
    }

    fn l0_get(
        &self,
        user: &str,
        versions: CacheVersions,
        query: &str,
    ) -> Option<Arc<SearchAnswer>> {
        let entry = self.answers.get(user)?;
        if entry.versions != versions {
            return None;
        }
        entry.by_query.get(query)
    }

    fn l0_insert(
        &self,
        user: String,
        versions: CacheVersions,
        query: String,
        answer: Arc<SearchAnswer>,
    ) {
        let entry = match self.answers.get(&user) {
            Some(entry) if entry.versions == versions => entry,
            _ => {
                let fresh = Arc::new(UserAnswers::new(versions));
                self.answers.insert(user, fresh.clone());
                fresh
            }
        };
        entry.by_query.insert(query, answer);
    }

    async fn versions(&self, tenant: &str, user: &str) -> Option<CacheVersions> {
        if let Some(local) = &self.local {
            return Some(local.versions(tenant, user));
        }
        self.redis.as_ref()?.versions(tenant, user).await.ok()
    }

    pub async fn search(
        &self,
        query: &SearchQuery,
    ) -> Result<(Arc<SearchAnswer>, Layer), ProjectionError> {
        let started = Instant::now();
        let versions = self.versions(&query.tenant, &query.user_id).await;
        let user = user_key(&query.tenant, &query.user_id);
        let fingerprint = query.fingerprint();
        if let Some(versions) = versions
            && let Some(answer) = self.l0_get(&user, versions, &fingerprint)
        {
            record(Layer::L0, started);
            return Ok((answer, Layer::L0));
        }
        // The L1 key names the version too, so a change makes old entries unreachable.
        let key = versions.map(|v| format!("{user}/{}/{}/{fingerprint}", v.epoch, v.generation));
        if let (Some(key), Some(redis)) = (&key, &self.redis) {
            let l1_key = redis.key(&["search", L1_FORMAT, key]);
            if let Ok(Some(bytes)) = redis.get_bytes(&l1_key).await {
                let answer = Arc::new(SearchAnswer {
                    results_json: Bytes::from(bytes),
                });
                if let Some(versions) = versions {
                    self.l0_insert(user, versions, fingerprint, answer.clone());
                }
                record(Layer::L1, started);
                return Ok((answer, Layer::L1));
            }
        }
        let (vector, index) = tokio::join!(
            self.query_vector(&query.query),
            self.index(&query.tenant, &query.user_id, versions)
        );
        let index = index?;
        let results = ranked(index, query, vector, self.embedder.similarity_scale()).await;
        let answer = Arc::new(SearchAnswer::new(&results)?);
        if let (Some(key), Some(versions)) = (key, versions) {
            if let Some(redis) = &self.redis {
                redis
                    .set_bytes(
                        &redis.key(&["search", L1_FORMAT, &key]),
                        &answer.results_json,
                        L1_TTL,
                    )
                    .await
                    .ok();
            }
            self.l0_insert(user, versions, fingerprint, answer.clone());
        }
        record(Layer::L4, started);
        Ok((answer, Layer::L4))
    }

    /// L3: the query's vector from this process, or Redis, or embedded now and stored in both.
    /// `None` when the embedder fails: the keyword match alone then ranks.
    async fn query_vector(&self, query: &str) -> Option<Vec<f32>> {
        let normalised = normalise_query(query);
        if normalised.is_empty() {
            return None;
        }
        if let Some(vector) = self.local_vectors.get(&normalised).await {
            metrics::counter!("pika_embedding_cache_total", "result" => "hit").increment(1);
            return Some(vector.as_ref().clone());
        }
        let digest = hex::encode(Sha256::digest(normalised.as_bytes()));
        let key = self
            .redis
            .as_ref()
            .map(|r| r.key(&["embedding", self.embedder.model(), &digest]));
        if let (Some(redis), Some(key)) = (&self.redis, &key)
            && let Ok(Some(bytes)) = redis.get_bytes(key).await
            && bytes.len() % 4 == 0
        {
            metrics::counter!("pika_embedding_cache_total", "result" => "hit").increment(1);
            let vector = pika_domain::vector_from_bytes(&bytes);
            self.local_vectors
                .insert(normalised, Arc::new(vector.clone()))
                .await;
            return Some(vector);
        }
        metrics::counter!("pika_embedding_cache_total", "result" => "miss").increment(1);
        let vector = match self.embedder.embed_query(&normalised).await {
            Ok(vector) => vector,
            Err(error) => {
                tracing::warn!(%error, "query not embedded; ranking by keywords only");
                return None;
            }
        };
        if let (Some(redis), Some(key)) = (&self.redis, &key) {
            let bytes = pika_domain::vector_to_bytes(&vector);
            redis.set_bytes(key, &bytes, L3_TTL).await.ok();
        }
        self.local_vectors
            .insert(normalised, Arc::new(vector.clone()))
            .await;
        Some(vector)
    }

    /// The user's facts ready to rank, kept in process per generation. After a change (a new
    /// generation of the same epoch) the held index is refreshed: only facts added or changed
    /// since are read again. A new epoch (lost notifications, a rebuild) or an index last read
    /// whole `INDEX_FULL_LOAD_EVERY` ago reads everything.
    async fn index(
        &self,
        tenant: &str,
        user: &str,
        versions: Option<CacheVersions>,
    ) -> Result<Arc<UserIndex>, ProjectionError> {
        let model = self.embedder.model().to_owned();
        let Some(v) = versions else {
            return Ok(Arc::new(self.reads.load_index(tenant, user, &model).await?));
        };
        let key = user_key(tenant, user);
        let held = self.indexes.get(&key);
        let (index, loaded_whole_at) = match held {
            Some(held) if held.versions == v => return Ok(held.index),
            Some(held)
                if held.versions.epoch == v.epoch
                    && held.loaded_whole_at.elapsed() < INDEX_FULL_LOAD_EVERY =>
            {
                let (fresh, changes) = self
                    .reads
                    .refresh_index(tenant, user, &model, &held.index)
                    .await?;
                metrics::counter!("pika_search_index_loads_total", "kind" => "refresh")
                    .increment(1);
                metrics::counter!("pika_search_index_facts_read_total")
                    .increment(changes.to_read.len() as u64);
                (fresh, held.loaded_whole_at)
            }
            _ => {
                let index = self.reads.load_index(tenant, user, &model).await?;
                metrics::counter!("pika_search_index_loads_total", "kind" => "full").increment(1);
                metrics::counter!("pika_search_index_facts_read_total")
                    .increment(index.len() as u64);
                (index, Instant::now())
            }
        };
        let index = Arc::new(index);
        self.indexes.insert(
            key,
            HeldIndex {
                versions: v,
                loaded_whole_at,
                index: index.clone(),
            },
        );
        Ok(index)
    }
}

/// Memories above which ranking leaves the async runtime for the blocking pool. Ranking
/// 1,000 memories takes about 150 µs, less than the hop costs; a user with tens of thousands
/// of turns would hold a runtime thread, and every request queued behind it, for milliseconds.
const RANK_ON_RUNTIME_UP_TO: usize = 5_000;

/// L4: ranks the user's memories for the query, off the runtime when there are many (only
/// then is the query copied, for the blocking task to own).
async fn ranked(
    index: Arc<UserIndex>,
    query: &SearchQuery,
    vector: Option<Vec<f32>>,
    scale: pika_domain::SimilarityScale,
) -> Vec<ScoredMemory> {
    let run = move |index: &UserIndex, query: &SearchQuery| {
        let query_vector = vector
            .as_deref()
            .map(|vector| QueryVector { vector, scale });
        rank(
            index,
            &query.query,
            query_vector,
            &query.filter,
            query.limit,
            query.min_score,
        )
    };
    if index.len() <= RANK_ON_RUNTIME_UP_TO {
        return run(&index, query);
    }
    let query = query.clone();
    tokio::task::spawn_blocking(move || run(&index, &query))
        .await
        .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteReadStore;
    use pika_domain::EmbeddingError;

    #[derive(Debug)]
    struct NoEmbedder;

    #[async_trait::async_trait]
    impl Embedder for NoEmbedder {
        fn model(&self) -> &str {
            "none"
        }

        async fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
            Err(EmbeddingError::Unavailable("not in this test".into()))
        }
    }

    /// Counts what it is asked to embed.
    #[derive(Debug, Default)]
    struct CountingEmbedder {
        calls: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Embedder for CountingEmbedder {
        fn model(&self) -> &str {
            "counting"
        }

        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(texts.iter().map(|_| vec![0.5; 4]).collect())
        }
    }

    /// With no Redis to ask (down, or not configured) a query asked before is not embedded
    /// again: every search would otherwise queue on the embedder for as long as Redis is away.
    #[tokio::test]
    async fn a_query_vector_is_kept_in_process_whether_or_not_redis_answers() {
        let embedder = Arc::new(CountingEmbedder::default());
        let pool = sqlx::sqlite::SqlitePool::connect_lazy("sqlite::memory:").expect("a pool");
        let search = SearchService::new(Arc::new(read_store(pool)), embedder.clone(), None);
        let first = search.query_vector("What is my dog called?").await;
        let again = search.query_vector("what is my  dog called?").await;
        assert_eq!(first, again);
        assert_eq!(embedder.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    fn service() -> SearchService {
        let pool = sqlx::sqlite::SqlitePool::connect_lazy("sqlite::memory:").expect("a pool");
        SearchService::new(Arc::new(read_store(pool)), Arc::new(NoEmbedder), None)
    }

    fn read_store(pool: sqlx::SqlitePool) -> SqliteReadStore {
        let keys = crate::data_keys::SqliteDataKeys::new(
            pool.clone(),
            Arc::new(pika_domain::MasterKey::generate()),
        );
        SqliteReadStore::new(pool, Arc::new(keys))
    }

    fn answer() -> Arc<SearchAnswer> {
        Arc::new(SearchAnswer::new(&[]).expect("an empty answer"))
    }

    const V1: CacheVersions = CacheVersions {
        epoch: 1,
        generation: 1,
    };
    const V2: CacheVersions = CacheVersions {
        epoch: 1,
        generation: 2,
    };

    #[tokio::test]
    async fn a_users_change_drops_the_answers_held_for_them_and_only_them() {
        let search = service();
        search.l0_insert(user_key("acme", "kid"), V1, "q".into(), answer());
        search.l0_insert(user_key("acme", "other"), V1, "q".into(), answer());
        assert!(search.holds_answers_for("acme", "kid"));

        search.forget_user("acme", "kid");
        assert!(!search.holds_answers_for("acme", "kid"));
        assert!(search.l0_get(&user_key("acme", "kid"), V1, "q").is_none());
        assert!(search.l0_get(&user_key("acme", "other"), V1, "q").is_some());
    }

    #[tokio::test]
    async fn an_answer_is_served_only_for_the_version_it_was_computed_at() {
        let search = service();
        let kid = user_key("acme", "kid");
        search.l0_insert(kid.clone(), V1, "q".into(), answer());
        assert!(search.l0_get(&kid, V1, "q").is_some());
        assert!(search.l0_get(&kid, V2, "q").is_none());
        assert!(search.l0_get(&kid, V1, "other query").is_none());

        search.l0_insert(kid.clone(), V2, "q2".into(), answer());
        assert!(
            search.l0_get(&kid, V1, "q").is_none(),
            "the old version is replaced"
        );
        assert!(search.l0_get(&kid, V2, "q2").is_some());
    }
}
