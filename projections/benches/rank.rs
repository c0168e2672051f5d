//! L4 ranking cost on one user's facts: `cargo bench -p pika-projections --bench rank`.
//! A full search miss pays this beside the query embedding, so it must stay well under a
//! millisecond for the search goals to hold; the first search after a change also pays the
//! held index's refresh, which must cost what changed, not what the user holds.

use criterion::{Criterion, criterion_group, criterion_main};
use pika_domain::SimilarityScale;
use pika_projections::fact_record::{FactRecord, FactSourceRecord};
use pika_projections::search::{
    EpisodeRefresh, IndexedFact, QueryVector, SearchFilter, UserIndex, rank,
};

const FACTS: usize = 1_000;
const DIMENSIONS: usize = 384;

fn vector(seed: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..DIMENSIONS)
        .map(|i| (((seed * 31 + i * 17) % 97) as f32 - 48.0) / 48.0)
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    raw.into_iter().map(|x| x / norm).collect()
}

fn facts() -> UserIndex {
    UserIndex::new(fact_list(FACTS), vec![])
}

fn fact_list(count: usize) -> Vec<IndexedFact> {
    (0..count)
        .map(|n| {
            let value = format!("item {n}");
            let record = FactRecord {
                fact_id: uuid::Uuid::now_v7(),
                user_id: "load-0".into(),
                key: ["likes.food", "likes.game", "family.cousin", "goal.skill"][n % 4].into(),
                kind: "preference".into(),
                value: value.clone(),
                text: format!("I like playing with {value} after school"),
                confidence: 0.9,
                language: "en".into(),
                source: FactSourceRecord {
                    job_id: None,
                    message_indexes: vec![0],
                },
                version: 1,
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            };
            IndexedFact::new(record, Some(vector(n))).at_position(n as i64 + 1)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let facts = facts();
    let query = vector(7);
    c.bench_function("rank 1000 facts, vector and words", |b| {
        b.iter(|| {
            rank(
                &facts,
                "what about item 12 and her dog",
                Some(QueryVector {
                    vector: &query,
                    scale: SimilarityScale::MINILM,
                }),
                &SearchFilter::default(),
                10,
                0.0,
            )
        });
    });
}

/// A user with 5,000 facts gains one: the refresh a search after a job does.
fn refresh(c: &mut Criterion) {
    let held = UserIndex::new(fact_list(5_000), vec![]);
    let added = fact_list(1)
        .into_iter()
        .map(|fact| fact.at_position(10_000))
        .collect::<Vec<_>>();
    c.bench_function("refresh 5000 held facts with one added", |b| {
        b.iter(|| {
            assert!(held.adds_up(&added, 5_001));
            held.merged(added.clone(), EpisodeRefresh::Added(vec![]))
        });
    });
}

/// A search after a restart or an eviction reads the user's facts and indexes their words.
fn index(c: &mut Criterion) {
    let list = fact_list(FACTS);
    let records: Vec<FactRecord> = list.into_iter().map(|fact| fact.record).collect();
    c.bench_function("index 1000 facts", |b| {
        b.iter_batched(
            || records.clone(),
            |records| {
                let facts = records
                    .into_iter()
                    .map(|record| IndexedFact::new(record, None))
                    .collect();
                UserIndex::new(facts, vec![])
            },
            criterion::BatchSize::LargeInput,
        );
    });
}

criterion_group!(benches, bench, refresh, index);
criterion_main!(benches);
