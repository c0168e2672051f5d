//! The embedder port: turns texts into vectors for semantic search. Adapters (a local model,
//! an HTTP endpoint) live in the outer ring.

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbeddingError {
    /// Worth retrying: an endpoint timed out or is overloaded.
    #[error("embedding temporarily unavailable: {0}")]
    Unavailable(String),
    /// The input or the answer is unusable.
    #[error("embedding failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// Names the model, so vectors of different models are never compared.
    fn model(&self) -> &str;
    /// One unit-length vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError>;
}

/// Vectors already computed, by text and model: the worker fills it before committing facts so
/// the `facts` projection can attach each fact's vector in the same transaction as its row.
/// A storage port; Postgres and SQLite adapters live in the outer ring.
#[async_trait]
pub trait EmbeddingCache: Send + Sync + std::fmt::Debug {
    /// The texts (once each, in first-seen order) that have no vector of `model` yet.
    async fn missing(&self, texts: &[String], model: &str) -> Result<Vec<String>, EmbeddingError>;
    /// Keeps each text's vector of `model`, replacing a vector of another model.
    async fn store(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), EmbeddingError>;
}

/// Both stores keep a vector as its f32s in little-endian bytes: one copy to read, where an
/// array type is sent and decoded value by value (see migration `vectors_as_bytes`). Every
/// reader and writer of vectors (read models, embedding cache, query cache) uses this one
/// codec, so a vector written by one is read alike by all.
pub fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

/// The inverse of [`vector_from_bytes`].
pub fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    vector
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

#[cfg(test)]
mod codec_tests {
    use super::*;

    #[test]
    fn a_vector_survives_the_byte_codec_exactly() {
        let vector = vec![0.25_f32, -1.5, f32::MIN_POSITIVE, 3.0e7];
        let bytes = vector_to_bytes(&vector);
        assert_eq!(bytes.len(), 16);
        assert_eq!(vector_from_bytes(&bytes), vector);
    }
}
