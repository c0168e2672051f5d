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
