//! Embedder adapters: multilingual-e5-small (ONNX Runtime) or all-MiniLM-L6-v2 (candle) in
//! process, or any OpenAI-compatible endpoint.

pub mod batched;
pub mod local;
pub mod onnx;
pub mod openai;
pub mod postgres_cache;
pub mod sqlite_cache;
pub mod store;

/// Unit length, so a dot product is the cosine.
pub fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Both local models as `scripts/fetch-model.sh` leaves them in `models`, with two threads for
/// e5: what the benchmarks and measuring tools compare.
pub fn fetched_models(
    models: &std::path::Path,
) -> Result<(onnx::OnnxEmbedder, local::LocalEmbedder), String> {
    let e5 = onnx::OnnxEmbedder::load(&onnx::OnnxModelFiles {
        model_dir: models.join(onnx::MODEL_NAME),
        runtime_library: models.join("onnxruntime/libonnxruntime.so"),
        threads: 2,
    })?;
    let minilm = local::LocalEmbedder::load(&models.join("all-MiniLM-L6-v2"))?;
    Ok((e5, minilm))
}
