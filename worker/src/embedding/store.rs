//! Keeping fact vectors where the `facts` projection finds them.

use std::sync::Arc;

use pika_domain::{Embedder, EmbeddingCache, FactOperation, UserMemory, fact_passage};

/// Computes and stores the vectors of fact texts before the facts are committed, so the
/// projection can attach them. Texts already embedded by the same model are skipped.
#[derive(Clone)]
pub struct FactEmbeddings {
    embedder: Arc<dyn Embedder>,
    cache: Arc<dyn EmbeddingCache>,
}

impl std::fmt::Debug for FactEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactEmbeddings")
            .field("model", &self.embedder.model())
            .finish()
    }
}

impl FactEmbeddings {
    pub fn new(embedder: Arc<dyn Embedder>, cache: Arc<dyn EmbeddingCache>) -> Self {
        Self { embedder, cache }
    }

    pub async fn ensure(&self, texts: &[String]) -> Result<(), String> {
        let model = self.embedder.model().to_owned();
        let missing = self
            .cache
            .missing(texts, &model)
            .await
            .map_err(|e| e.to_string())?;
        if missing.is_empty() {
            return Ok(());
        }
        let vectors = self
            .embedder
            .embed(&missing)
            .await
            .map_err(|e| e.to_string())?;
        let entries: Vec<(String, Vec<f32>)> = missing.into_iter().zip(vectors).collect();
        self.cache
            .store(&model, &entries)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What the operations will write that needs a vector: each added or corrected fact as its
/// passage. A correction keeps its fact's key, read from the memory it was decided against.
pub fn fact_passages(operations: &[FactOperation], memory: &UserMemory) -> Vec<String> {
    operations
        .iter()
        .filter_map(|op| match op {
            FactOperation::Add { candidate, .. } => Some(fact_passage(
                candidate.key.as_str(),
                candidate.text.as_str(),
            )),
            FactOperation::Update {
                fact_id,
                correction,
            } => memory
                .live_facts()
                .get(fact_id)
                .map(|fact| fact_passage(fact.key.as_str(), correction.text.as_str())),
            FactOperation::Retract { .. } => None,
        })
        .collect()
}
