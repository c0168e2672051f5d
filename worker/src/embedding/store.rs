//! Keeping fact vectors where the `facts` projection finds them.

use std::sync::Arc;

use pika_commands::storage::Database;
use pika_domain::Embedder;
use sha2::Digest;
use sqlx::PgPool;
use sqlx::sqlite::SqlitePool;

/// Computes and stores the vectors of fact texts before the facts are committed, so the
/// projection can attach them. Texts already embedded by the same model are skipped.
#[derive(Clone)]
pub struct FactEmbeddings {
    embedder: Arc<dyn Embedder>,
    database: Database,
}

impl std::fmt::Debug for FactEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactEmbeddings")
            .field("model", &self.embedder.model())
            .finish()
    }
}

impl FactEmbeddings {
    pub fn new(embedder: Arc<dyn Embedder>, database: Database) -> Self {
        Self { embedder, database }
    }

    pub async fn ensure(&self, texts: &[String]) -> Result<(), String> {
        match &self.database {
            Database::Postgres(pool) => self.ensure_in_postgres(pool, texts).await,
            Database::Sqlite(pool) => self.ensure_in_sqlite(pool, texts).await,
        }
    }

    /// The embedded cache, keyed like Postgres' by the SHA-256 of the text's UTF-8 bytes, the
    /// vector as little-endian f32 bytes (in both stores: see migration `vectors_as_bytes`).
    async fn ensure_in_sqlite(&self, pool: &SqlitePool, texts: &[String]) -> Result<(), String> {
        let model = self.embedder.model().to_owned();
        let cache_error = |e: sqlx::Error| format!("embedding cache: {e}");
        let mut missing = Vec::new();
        for text in texts {
            let digest = sha2::Sha256::digest(text.as_bytes()).to_vec();
            let cached: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM embedding_cache WHERE text_sha256 = ? AND model = ?",
            )
            .bind(&digest)
            .bind(&model)
            .fetch_optional(pool)
            .await
            .map_err(cache_error)?;
            if cached.is_none() && !missing.contains(text) {
                missing.push(text.clone());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let vectors = self
            .embedder
            .embed(&missing)
            .await
            .map_err(|e| e.to_string())?;
        for (text, vector) in missing.iter().zip(vectors) {
            sqlx::query(
                "INSERT INTO embedding_cache (text_sha256, model, vector, created_at)
                 VALUES (?, ?, ?, ?)
                 ON CONFLICT (text_sha256) DO UPDATE SET model = excluded.model,
                    vector = excluded.vector",
            )
            .bind(sha2::Sha256::digest(text.as_bytes()).to_vec())
            .bind(&model)
            .bind(pika_projections::read_store::vector_to_bytes(&vector))
            .bind(chrono::Utc::now())
            .execute(pool)
            .await
            .map_err(cache_error)?;
        }
        Ok(())
    }

    async fn ensure_in_postgres(&self, pool: &PgPool, texts: &[String]) -> Result<(), String> {
        let model = self.embedder.model().to_owned();
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT t FROM unnest($1::text[]) AS t
              WHERE NOT EXISTS (SELECT 1 FROM embedding_cache e
                                 WHERE e.text_sha256 = sha256(convert_to(t, 'UTF8'))
                                   AND e.model = $2)",
        )
        .bind(texts)
        .bind(&model)
        .fetch_all(pool)
        .await
        .map_err(|e| format!("embedding cache: {e}"))?;
        if missing.is_empty() {
            return Ok(());
        }
        let vectors = self
            .embedder
            .embed(&missing)
            .await
            .map_err(|e| e.to_string())?;
        for (text, vector) in missing.iter().zip(vectors) {
            sqlx::query(
                "INSERT INTO embedding_cache (text_sha256, model, vector)
                 VALUES (sha256(convert_to($1, 'UTF8')), $2, $3)
                 ON CONFLICT (text_sha256) DO UPDATE SET model = excluded.model, vector = excluded.vector",
            )
            .bind(text)
            .bind(&model)
            .bind(pika_projections::read_store::vector_to_bytes(&vector))
            .execute(pool)
            .await
            .map_err(|e| format!("embedding cache: {e}"))?;
        }
        Ok(())
    }
}
