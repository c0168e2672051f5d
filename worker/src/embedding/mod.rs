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
