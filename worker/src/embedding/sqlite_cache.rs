//! The embedding cache in the embedded file, keyed like Postgres' by the SHA-256 of the text's
//! UTF-8 bytes, the vector as little-endian f32 bytes (see migration `vectors_as_bytes`).

use async_trait::async_trait;
use pika_domain::{EmbeddingCache, EmbeddingError, vector_to_bytes};
use sha2::Digest;
use sqlx::SqlitePool;

#[derive(Debug, Clone)]
pub struct SqliteEmbeddingCache {
    pool: SqlitePool,
}

impl SqliteEmbeddingCache {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn unavailable(error: sqlx::Error) -> EmbeddingError {
    EmbeddingError::Unavailable(format!("embedding cache: {error}"))
}

fn digest(text: &str) -> Vec<u8> {
    sha2::Sha256::digest(text.as_bytes()).to_vec()
}

#[async_trait]
impl EmbeddingCache for SqliteEmbeddingCache {
    async fn missing(&self, texts: &[String], model: &str) -> Result<Vec<String>, EmbeddingError> {
        let mut missing: Vec<String> = Vec::new();
        for text in texts {
            let cached: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM embedding_cache WHERE text_sha256 = ? AND model = ?",
            )
            .bind(digest(text))
            .bind(model)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
            if cached.is_none() && !missing.contains(text) {
                missing.push(text.clone());
            }
        }
        Ok(missing)
    }

    async fn store(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), EmbeddingError> {
        for (text, vector) in vectors {
            sqlx::query(
                "INSERT INTO embedding_cache (text_sha256, model, vector, created_at)
                 VALUES (?, ?, ?, ?)
                 ON CONFLICT (text_sha256) DO UPDATE SET model = excluded.model,
                    vector = excluded.vector",
            )
            .bind(digest(text))
            .bind(model)
            .bind(vector_to_bytes(vector))
            .bind(chrono::Utc::now())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        }
        Ok(())
    }
}
