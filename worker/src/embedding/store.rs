//! Keeping fact vectors where the `facts` projection finds them.

use std::sync::Arc;

use pika_domain::Embedder;
use sqlx::PgPool;

/// Computes and stores the vectors of fact texts before the facts are committed, so the
/// projection can attach them. Texts already embedded by the same model are skipped.
#[derive(Clone)]
pub struct FactEmbeddings {
    embedder: Arc<dyn Embedder>,
    pool: PgPool,
}

impl std::fmt::Debug for FactEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactEmbeddings")
            .field("model", &self.embedder.model())
            .finish()
    }
}

impl FactEmbeddings {
    pub fn new(embedder: Arc<dyn Embedder>, pool: PgPool) -> Self {
        Self { embedder, pool }
    }

    pub async fn ensure(&self, texts: &[String]) -> Result<(), String> {
        let model = self.embedder.model().to_owned();
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT t FROM unnest($1::text[]) AS t
              WHERE NOT EXISTS (SELECT 1 FROM embedding_cache e
                                 WHERE e.text_sha256 = sha256(convert_to(t, 'UTF8'))
                                   AND e.model = $2)",
        )
        .bind(texts)
        .bind(&model)
        .fetch_all(&self.pool)
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
            .bind(&vector)
            .execute(&self.pool)
            .await
            .map_err(|e| format!("embedding cache: {e}"))?;
        }
        Ok(())
    }
}
