//! The extraction worker: consumes jobs, extracts facts from conversations (rules or an LLM),
//! decides what changes in the user's memory, and commits it.

pub mod amqp;
pub mod embedding;
pub mod extraction;
pub mod local_queue;
pub mod ordering;
pub mod runner;

use std::sync::Arc;
use std::time::Duration;

use extraction::Extractor;
use secrecy::SecretString;

/// An OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct RemoteEndpoint {
    pub base_url: String,
    pub model: String,
    /// Kept wrapped to the moment it goes into a request header: `Debug` prints it redacted,
    /// so no log line or error shows it.
    pub api_key: Option<SecretString>,
    pub timeout: Duration,
}

/// Which extractor the worker runs.
#[derive(Debug, Clone)]
pub enum ExtractorSettings {
    Rules,
    Llm(RemoteEndpoint),
}

/// Builds the configured extractor; fails when it cannot be built (a broken lexicon).
pub fn extractor_for(settings: &ExtractorSettings) -> Result<Arc<dyn Extractor>, String> {
    match settings {
        ExtractorSettings::Rules => Ok(Arc::new(extraction::rules::OffRuntime::new(Arc::new(
            extraction::rules::RulesExtractor::new(),
        )))),
        ExtractorSettings::Llm(endpoint) => Ok(Arc::new(extraction::llm::LlmExtractor::new(
            endpoint.clone(),
        )?)),
    }
}

pub use embedding::onnx::OnnxModelFiles;

/// Which embedder turns fact texts and queries into vectors.
#[derive(Debug, Clone)]
pub enum EmbedderSettings {
    /// all-MiniLM-L6-v2 (English) with candle.
    Local {
        model_dir: std::path::PathBuf,
    },
    /// multilingual-e5-small with ONNX Runtime.
    Onnx(embedding::onnx::OnnxModelFiles),
    OpenAi(RemoteEndpoint),
}

/// Builds the configured embedder; the local model is loaded here, once.
pub fn embedder_for(settings: &EmbedderSettings) -> Result<Arc<dyn pika_domain::Embedder>, String> {
    match settings {
        EmbedderSettings::Local { model_dir } => {
            Ok(Arc::new(embedding::local::LocalEmbedder::load(model_dir)?))
        }
        EmbedderSettings::Onnx(files) => Ok(Arc::new(embedding::onnx::OnnxEmbedder::load(files)?)),
        EmbedderSettings::OpenAi(endpoint) => Ok(Arc::new(embedding::openai::OpenAiEmbedder::new(
            endpoint.clone(),
        )?)),
    }
}
