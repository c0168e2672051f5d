//! Embeddings from any OpenAI-compatible `/embeddings` endpoint.

use async_trait::async_trait;
use pika_domain::{Embedder, EmbeddingError};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::normalise;
use crate::RemoteEndpoint;

#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    client: reqwest::Client,
    endpoint: RemoteEndpoint,
}

#[derive(Debug, Deserialize)]
struct EmbeddingsAnswer {
    data: Vec<EmbeddingItem>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    pub fn new(endpoint: RemoteEndpoint) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, endpoint })
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.endpoint.model
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let url = format!("{}/embeddings", self.endpoint.base_url);
        let mut request = self
            .client
            .post(url)
            .json(&json!({"model": self.endpoint.model, "input": texts}));
        if let Some(key) = &self.endpoint.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|e| EmbeddingError::Unavailable(format!("embeddings endpoint: {e}")))?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(EmbeddingError::Unavailable(format!(
                "embeddings endpoint answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(EmbeddingError::Failed(format!(
                "embeddings endpoint refused: {status}"
            )));
        }
        let mut answer: EmbeddingsAnswer = response
            .json()
            .await
            .map_err(|e| EmbeddingError::Failed(format!("embeddings answer: {e}")))?;
        if answer.data.len() != texts.len() {
            return Err(EmbeddingError::Failed(format!(
                "asked for {} embeddings, got {}",
                texts.len(),
                answer.data.len()
            )));
        }
        answer.data.sort_by_key(|item| item.index);
        Ok(answer
            .data
            .into_iter()
            .map(|item| {
                let mut vector = item.embedding;
                normalise(&mut vector);
                vector
            })
            .collect())
    }
}
