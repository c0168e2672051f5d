//! Search load against running servers: `scripts/bench-search.sh` starts two server processes
//! on one database and runs this. Seeds users with N facts each (with vectors), then measures
//! p50/p95/p99 and searches/s for an L0 hit, an L1 hit and a full miss (new query text), at
//! each concurrency, checking the `X-Cache` header says the layer measured; then the first
//! search after each of a user's changes, which reloads that user's facts (the common case in
//! use: a conversation changed the memory, the next turn searches it).
//!
//! Arguments: --url A --beside B --key SECRET (--database-url URL | --data-dir DIR)
//! [--users 4] [--facts 1000]; --data-dir seeds an embedded server's file instead.
//! [--requests 4000] [--misses 300] [--concurrency 1,32] [--reloads 200]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pika_commands::{CommandContext, RetryPolicy, WriteModel};
use pika_domain::EmbeddingCache;
use pika_domain::*;
use pika_worker::embedding::postgres_cache::PostgresEmbeddingCache;
use pika_worker::embedding::sqlite_cache::SqliteEmbeddingCache;
use pika_worker::embedding::store::FactEmbeddings;
use serde_json::{Value, json};

struct Args {
    values: HashMap<String, String>,
}

impl Args {
    fn parse() -> Self {
        let raw: Vec<String> = std::env::args().skip(1).collect();
        let values = raw
            .chunks(2)
            .filter_map(|pair| {
                Some((
                    pair.first()?.trim_start_matches("--").to_owned(),
                    pair.get(1)?.clone(),
                ))
            })
            .collect();
        Self { values }
    }

    fn get(&self, name: &str, default: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    }

    fn number(&self, name: &str, default: usize) -> usize {
        self.values
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

const TOPICS: &[(&str, &str)] = &[
    ("likes.food", "I like eating"),
    ("likes.activity", "I enjoy"),
    ("dislikes.food", "I don't like"),
    ("likes.music", "I listen to"),
    ("likes.book", "I am reading"),
    ("family.cousin", "My cousin is called"),
    ("likes.game", "I play"),
    ("goal.skill", "I want to learn"),
];

fn facts_for(user: usize, count: usize) -> Vec<(String, String, String)> {
    let mut facts: Vec<(String, String, String)> = (0..count.saturating_sub(2))
        .map(|n| {
            let (key, phrase) = TOPICS[n % TOPICS.len()];
            let value = format!("item {user}-{n}");
            (key.to_owned(), value.clone(), format!("{phrase} {value}"))
        })
        .collect();
    facts.push((
        "pet.dog".into(),
        "Milu".into(),
        "I have a dog called Milu".into(),
    ));
    facts.push((
        "pet.cat".into(),
        "Mướp".into(),
        "Nhà em có một con mèo tên là Mướp".into(),
    ));
    facts
}

async fn seed(args: &Args, tenant: &TenantId, users: usize, count: usize) {
    // Embedded: write into the server's own SQLite file (WAL lets both processes in).
    let (model, cache): (WriteModel, Arc<dyn EmbeddingCache>) = match args.values.get("data-dir") {
        Some(dir) => {
            let pool = pika_commands::sqlite::connect_sqlite(Path::new(dir), 4)
                .await
                .expect("embedded database");
            (
                WriteModel::sqlite(
                    pool.clone(),
                    std::sync::Arc::new(pika_tests::sqlite_data_keys(&pool)),
                    RetryPolicy::default(),
                ),
                Arc::new(SqliteEmbeddingCache::new(pool)),
            )
        }
        None => {
            let pool = pika_commands::postgres::connect_postgres(&args.get("database-url", ""), 8)
                .await
                .expect("database");
            (
                WriteModel::postgres(
                    pool.clone(),
                    pika_tests::pg_data_keys(&pool),
                    RetryPolicy::default(),
                ),
                Arc::new(PostgresEmbeddingCache::new(pool)),
            )
        }
    };
    let embeddings = FactEmbeddings::new(pika_tests::embedder(), cache);
    let started = Instant::now();
    for user in 0..users {
        let facts = facts_for(user, count);
        let passages: Vec<String> = facts
            .iter()
            .map(|f| pika_domain::fact_passage(&f.0, &f.2))
            .collect();
        for chunk in passages.chunks(64) {
            embeddings.ensure(chunk).await.expect("embed");
        }
        let user_id = UserId::parse(&format!("load-{user}")).expect("user");
        for chunk in facts.chunks(UserMemory::MAX_OPERATIONS) {
            let operations = chunk
                .iter()
                .map(|(key, value, text)| FactOperation::Add {
                    fact_id: FactId::generate(),
                    candidate: FactCandidate {
                        key: FactKey::parse(key).expect("key"),
                        value: FactValue::parse(value).expect("value"),
                        text: FactText::parse(text).expect("text"),
                        confidence: Confidence::new(0.9).expect("confidence"),
                        language: Language::parse("en").expect("language"),
                        source: FactSource::default(),
                    },
                })
                .collect();
            let command = UserMemoryCommand::ApplyExtraction {
                job_id: JobId::generate(),
                operations,
            };
            model
                .execute_user_memory(
                    tenant,
                    &user_id,
                    command,
                    &CommandContext::new("load-seed", "bench"),
                )
                .await
                .expect("seed");
        }
    }
    println!(
        "seeded {users} users x {count} facts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

struct Client {
    http: reqwest::Client,
    key: String,
}

impl Client {
    async fn search(&self, base: &str, user: &str, query: &str) -> (Duration, String) {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{base}/v1/search"))
            .bearer_auth(&self.key)
            .json(&json!({"user_id": user, "query": query, "limit": 10}))
            .send()
            .await
            .expect("search");
        let layer = response
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_owned();
        let status = response.status();
        let body = response.bytes().await.expect("body");
        assert!(
            status.is_success(),
            "search failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
        (started.elapsed(), layer)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

/// Sends every (base, user, query) once, `concurrency` at a time; reports latencies and how
/// many answers came from the expected layer.
async fn run(
    name: &str,
    client: &Arc<Client>,
    requests: Vec<(String, String, String)>,
    concurrency: usize,
    expect: &str,
) {
    let total = requests.len();
    let queue = Arc::new(tokio::sync::Mutex::new(requests));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let queue = queue.clone();
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let Some((base, user, query)) = queue.lock().await.pop() else {
                    break;
                };
                samples.push(client.search(&base, &user, &query).await);
            }
            samples
        }));
    }
    let mut latencies = Vec::new();
    let mut layers: HashMap<String, usize> = HashMap::new();
    for worker in workers {
        for (latency, layer) in worker.await.expect("worker") {
            latencies.push(latency);
            *layers.entry(layer).or_default() += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "| {name} | {concurrency} | {total} | {:.2} | {:.2} | {:.2} | {:.0} | {}/{total} {expect} |",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        total as f64 / seconds,
        layers.get(expect).copied().unwrap_or(0),
    );
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let first = args.get("url", "http://127.0.0.1:8080");
    let beside = args.get("beside", &first);
    let users = args.number("users", 4);
    let facts = args.number("facts", 1000);
    let requests = args.number("requests", 4000);
    let misses = args.number("misses", 300);
    let tenant = TenantId::parse(&args.get("tenant", "bench")).expect("tenant");
    seed(&args, &tenant, users, facts).await;
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client"),
        key: args.get("key", ""),
    });
    // Wait until both servers see every user's facts.
    for user in 0..users {
        for _ in 0..600 {
            let body: Value = client
                .http
                .get(format!("{first}/v1/users/load-{user}/favorites"))
                .bearer_auth(&client.key)
                .send()
                .await
                .expect("favorites")
                .json()
                .await
                .expect("json");
            if body["live_facts"].as_u64() == Some(facts as u64) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "| layer | clients | requests | p50 ms | p95 ms | p99 ms | searches/s | answered by |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let concurrencies: Vec<usize> = args
        .get("concurrency", "1,32")
        .split(',')
        .filter_map(|c| c.parse().ok())
        .collect();
    for (round, &concurrency) in concurrencies.iter().enumerate() {
        let user_of = |n: usize| format!("load-{}", n % users);
        // Full miss: query text never seen before.
        let fresh: Vec<_> = (0..misses)
            .map(|n| {
                (
                    first.clone(),
                    user_of(n),
                    format!("what about item {round}-{n} and her dog"),
                )
            })
            .collect();
        run("full miss (L4)", &client, fresh, concurrency, "L4").await;
        // L1: answers cached by the first server, asked once of the second.
        let shared: Vec<_> = (0..misses)
            .map(|n| {
                (
                    first.clone(),
                    user_of(n),
                    format!("does she like item {round}-{n}"),
                )
            })
            .collect();
        run(
            "warm-up on the first server",
            &client,
            shared.clone(),
            concurrency,
            "L4",
        )
        .await;
        // Embedded there is one process and no Redis: no L1 to measure.
        if !args.values.contains_key("data-dir") {
            let on_beside: Vec<_> = shared
                .into_iter()
                .map(|(_, user, query)| (beside.clone(), user, query))
                .collect();
            run("L1 hit", &client, on_beside, concurrency, "L1").await;
        }
        // L0: a few popular queries asked again and again.
        let popular = [
            "what's my dog called",
            "favourite food",
            "Milu",
            "what does she like to play",
        ];
        let hot: Vec<_> = (0..requests)
            .map(|n| {
                (
                    first.clone(),
                    user_of(n),
                    popular[n % popular.len()].to_owned(),
                )
            })
            .collect();
        run(
            "warm-up",
            &client,
            hot[..popular.len() * users].to_vec(),
            1,
            "L4",
        )
        .await;
        run("L0 hit", &client, hot, concurrency, "L0").await;
    }
    let reloads = args.number("reloads", 200);
    first_search_after_each_change(&client, &first, users, reloads).await;
}

/// The query asked after each change, one of the popular queries above: its vector is cached
/// (L3), so the time measured is the reload of the user's facts and the ranking.
const RELOAD_QUERY: &str = "what's my dog called";

/// One client: adds a fact to a user, waits until the facts read model has it, then times one
/// search (which must be answered by L4, the user's answers being out of date).
async fn first_search_after_each_change(
    client: &Arc<Client>,
    base: &str,
    users: usize,
    count: usize,
) {
    let mut latencies = Vec::new();
    let mut reloaded = 0;
    let mut searching = Duration::ZERO;
    for n in 0..count {
        let user = format!("load-{}", n % users);
        let added: Value = client
            .http
            .post(format!("{base}/v1/users/{user}/facts"))
            .bearer_auth(&client.key)
            .json(&json!({"key": "likes.thing", "value": format!("reload thing {n}")}))
            .send()
            .await
            .expect("add a fact")
            .json()
            .await
            .expect("json");
        let position = added["position"].as_i64().expect("a position");
        let read = client
            .http
            .get(format!(
                "{base}/v1/users/{user}/facts?min_position={position}"
            ))
            .bearer_auth(&client.key)
            .send()
            .await
            .expect("read the facts");
        assert!(read.status().is_success(), "facts read: {}", read.status());
        let (latency, layer) = client.search(base, &user, RELOAD_QUERY).await;
        searching += latency;
        latencies.push(latency);
        reloaded += usize::from(layer == "L4");
    }
    latencies.sort();
    println!(
        "| first search after a change (reload) | 1 | {count} | {:.2} | {:.2} | {:.2} | {:.0} | {reloaded}/{count} L4 |",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        count as f64 / searching.as_secs_f64().max(1e-9),
    );
}
