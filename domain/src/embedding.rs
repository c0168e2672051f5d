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

/// How one model's cosines read. Models differ a lot: all-MiniLM-L6-v2 puts unrelated
/// sentences near 0 and paraphrases near 0.8, multilingual-e5 puts nearly everything between
/// 0.7 and 0.95. Search maps cosines through this so its scores mean the same whatever the
/// model, and `min_score` keeps one meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityScale {
    /// Below this cosine a memory takes no part in the ranking by meaning. Where unrelated
    /// texts still score high (e5), a memory that only shares a common word ("is", "to") with
    /// the question would otherwise gain from both rankings and pass the one true answer.
    pub floor: f32,
    /// At or below this cosine two texts have nothing in common (relevance 0).
    pub unrelated: f32,
    /// At or above this cosine they say the same thing (relevance 1).
    pub paraphrase: f32,
    /// How much a fact's key ([`fact_passage`]) raises its cosine with any question, related
    /// or not. Facts and turns are ranked in one list on one scale, so a fact's cosine is
    /// lowered by this much first; otherwise every fact would pass the floor and outrank the
    /// turns for no reason but its key.
    pub key_lift: f32,
}

impl SimilarityScale {
    /// all-MiniLM-L6-v2: "I love eating pizza" / "My favourite food is pizza" ≈ 0.8, unrelated
    /// sentences ≈ 0–0.15. A key lifts an English question's cosine by 0.015 on average (the
    /// language probe's English pairs; MiniLM is the model for English).
    pub const MINILM: Self = Self {
        floor: 0.15,
        unrelated: 0.15,
        paraphrase: 0.6,
        key_lift: 0.015,
    };

    /// The cosine as relevance in [0, 1].
    pub fn relevance(&self, cosine: f64) -> f64 {
        let (low, high) = (f64::from(self.unrelated), f64::from(self.paraphrase));
        ((cosine - low) / (high - low)).clamp(0.0, 1.0)
    }
}

#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// Names the model, so vectors of different models are never compared.
    fn model(&self) -> &str;
    /// One unit-length vector per text to be found later (a fact, a turn), in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError>;
    /// The vector of a search's question. Retrieval models such as e5 were trained to embed
    /// a question and the passage that answers it differently; the others embed both alike.
    async fn embed_query(&self, query: &str) -> Result<Vec<f32>, EmbeddingError> {
        self.embed(&[query.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| EmbeddingError::Failed("no vector for the query".to_owned()))
    }
    /// How this model's cosines read.
    fn similarity_scale(&self) -> SimilarityScale {
        SimilarityScale::MINILM
    }
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

/// What is embedded for a fact: its key read as words, then its text ("health allergy. Bị dị
/// ứng lông mèo"). Keys are English and name what a fact is about, so an English question
/// ("what is she allergic to") finds a fact kept in Vietnamese by its key as well as by its
/// text; on the language probe this raised cross-lingual hit@3 by meaning alone from 0.75 to
/// 1.00 with English and Vietnamese unchanged (docs/BENCHMARKS.md). A turn has no key and is
/// embedded as written. Every writer and reader of a fact's vector (the worker, the facts
/// projection, re-embedding, erasure) looks it up by this passage, so they agree.
pub fn fact_passage(key: &str, text: &str) -> String {
    let words = key.replace(['.', '_'], " ");
    format!("{}. {text}", words.trim())
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
    fn a_fact_passage_reads_its_key_as_words_before_its_text() {
        assert_eq!(
            fact_passage("goal.dream_job", "Muốn trở thành phi hành gia"),
            "goal dream job. Muốn trở thành phi hành gia"
        );
        assert_eq!(fact_passage("age", "Is 8"), "age. Is 8");
    }

    #[test]
    fn a_vector_survives_the_byte_codec_exactly() {
        let vector = vec![0.25_f32, -1.5, f32::MIN_POSITIVE, 3.0e7];
        let bytes = vector_to_bytes(&vector);
        assert_eq!(bytes.len(), 16);
        assert_eq!(vector_from_bytes(&bytes), vector);
    }
}

#[cfg(test)]
mod scale_tests {
    use super::SimilarityScale;

    #[test]
    fn given_a_scale_when_cosines_are_read_then_they_map_onto_zero_to_one() {
        let scale = SimilarityScale {
            floor: 0.8,
            unrelated: 0.8,
            paraphrase: 0.9,
            key_lift: 0.0,
        };
        assert_eq!(scale.relevance(0.5), 0.0);
        assert!((scale.relevance(0.85) - 0.5).abs() < 1e-6);
        assert_eq!(scale.relevance(0.99), 1.0);
    }
}
