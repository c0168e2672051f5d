//! all-MiniLM-L6-v2 run in process with candle: no network, no Python.
//!
//! Weights and tokenizer come from `PIKA_MODEL_DIR` (fetched by `scripts/fetch-model.sh`),
//! are loaded once, and every call is batched. Padding is to the longest text of the batch,
//! not the tokenizer file's fixed 128, which makes a short query several times faster.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use pika_domain::{Embedder, EmbeddingError};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::normalise;

/// Longest input in tokens; longer texts are truncated (the model was trained on 256).
const MAX_TOKENS: usize = 256;

pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

struct Loaded {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

#[derive(Clone)]
pub struct LocalEmbedder {
    loaded: Arc<Loaded>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("model", &MODEL_NAME)
            .finish()
    }
}

fn failed(context: &str) -> impl Fn(String) -> String + '_ {
    move |e| format!("{context}: {e}")
}

impl LocalEmbedder {
    /// Loads the model from a folder holding `config.json`, `tokenizer.json` and
    /// `model.safetensors`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                format!(
                    "cannot read {} (run scripts/fetch-model.sh or set PIKA_MODEL_DIR): {e}",
                    dir.join(name).display()
                )
            })
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| failed("config.json")(e.to_string()))?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| failed("tokenizer.json")(e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| failed("tokenizer truncation")(e.to_string()))?;
        let device = Device::Cpu;
        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| failed("model.safetensors")(e.to_string()))?;
        let model = BertModel::load(vb, &config).map_err(|e| failed("model")(e.to_string()))?;
        Ok(Self {
            loaded: Arc::new(Loaded {
                model,
                tokenizer,
                device,
            }),
        })
    }

    /// Embeds on the calling thread; `embed` runs this on the blocking pool.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let Loaded {
            model,
            tokenizer,
            device,
        } = self.loaded.as_ref();
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| failed("tokenize")(e.to_string()))?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.get_ids().len());
        let ids: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_ids().to_vec())
            .collect();
        let mask: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_attention_mask().to_vec())
            .collect();
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (rows, width), device)?;
            let mask = Tensor::from_vec(mask, (rows, width), device)?;
            let token_types = ids.zeros_like()?;
            let hidden = model.forward(&ids, &token_types, Some(&mask))?;
            // Mean over the real tokens only.
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
            summed.broadcast_div(&counts)?.to_vec2::<f32>()
        };
        let mut vectors = run().map_err(|e| failed("model forward")(e.to_string()))?;
        vectors.iter_mut().for_each(|v| normalise(v));
        Ok(vectors)
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        MODEL_NAME
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        let embedder = self.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || embedder.embed_blocking(&texts))
            .await
            .map_err(|e| EmbeddingError::Failed(format!("embedding task failed: {e}")))?
            .map_err(EmbeddingError::Failed)
    }
}
