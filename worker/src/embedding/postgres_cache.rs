//! The embedding cache in Postgres, keyed by the SHA-256 of the text's UTF-8 bytes.

use async_trait::async_trait;
use pika_domain::{EmbeddingCache, EmbeddingError, vector_to_bytes};
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct PostgresEmbeddingCache {
    pool: PgPool,
}

impl PostgresEmbeddingCache {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn unavailable(error: sqlx::Error) -> EmbeddingError {
    EmbeddingError::Unavailable(format!("embedding cache: {error}"))
}

#[async_trait]
impl EmbeddingCache for PostgresEmbeddingCache {
    async fn missing(&self, texts: &[String], model: &str) -> Result<Vec<String>, EmbeddingError> {
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n)
              WHERE NOT EXISTS (SELECT 1 FROM embedding_cache e
                                 WHERE e.text_sha256 = sha256(convert_to(t, 'UTF8'))
                                   AND e.model = $2)
              GROUP BY t ORDER BY min(n)",
        )
        .bind(texts)
        .bind(model)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(missing)
    }

    async fn store(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), EmbeddingError> {
        for (text, vector) in vectors {
            sqlx::query(
                "INSERT INTO embedding_cache (text_sha256, model, vector)
                 VALUES (sha256(convert_to($1, 'UTF8')), $2, $3)
                 ON CONFLICT (text_sha256) DO UPDATE SET model = excluded.model,
                    vector = excluded.vector",
            )
            .bind(text)
            .bind(model)
            .bind(vector_to_bytes(vector))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        }
        Ok(())
    }
}
