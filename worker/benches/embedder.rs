//! Local embedder speed: one short query (the search path) and batches (the worker path).
//!
//! `cargo bench -p pika-worker --bench embedder` — needs the model (scripts/fetch-model.sh).
//! Criterion reports the mean; the percentiles the targets are stated in are printed first.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pika_worker::embedding::local::LocalEmbedder;

const QUERIES: &[&str] = &[
    "what's my dog called",
    "Con chó của em tên là gì?",
    "favourite food",
    "Does she have any allergies?",
    "Em thích ăn món gì nhất?",
    "what sport does he play after school",
];

fn model_dir() -> PathBuf {
    std::env::var_os("PIKA_MODEL_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../models/all-MiniLM-L6-v2"
            ))
        },
        PathBuf::from,
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn print_percentiles(embedder: &LocalEmbedder) {
    let mut samples = Vec::new();
    for round in 0..400 {
        let query = vec![QUERIES[round % QUERIES.len()].to_owned()];
        let started = Instant::now();
        embedder.embed_blocking(&query).expect("embed");
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "single short query: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms (400 queries)",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.95).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
    let batch: Vec<String> = (0..32)
        .map(|i| format!("{} number {i}", QUERIES[i % QUERIES.len()]))
        .collect();
    let started = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        embedder.embed_blocking(&batch).expect("embed");
    }
    let rate = (rounds * batch.len()) as f64 / started.elapsed().as_secs_f64();
    println!("batches of 32: {rate:.0} sentences/s");
}

fn embedder(c: &mut Criterion) {
    let embedder = LocalEmbedder::load(&model_dir()).expect("model (run scripts/fetch-model.sh)");
    print_percentiles(&embedder);
    let query = vec![QUERIES[0].to_owned()];
    c.bench_function("embed one short query", |b| {
        b.iter(|| embedder.embed_blocking(&query))
    });
    let batch: Vec<String> = (0..32)
        .map(|i| format!("{} number {i}", QUERIES[i % QUERIES.len()]))
        .collect();
    let mut group = c.benchmark_group("embed batch");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("32 sentences", |b| {
        b.iter(|| embedder.embed_blocking(&batch))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = embedder
}
criterion_main!(benches);
