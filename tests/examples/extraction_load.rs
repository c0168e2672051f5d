//! Extraction throughput and latency against a running server (`scripts/bench-extraction.sh`):
//! submits conversations for many users, `concurrency` at a time, and measures for each job
//! the time from submit to `completed` — which the API reports only once the job's facts are
//! in every read model, i.e. searchable. Ends by checking every job completed exactly once.
//!
//! Arguments: --url URL --key SECRET [--jobs 600] [--concurrency 32] [--users 100]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CONVERSATIONS: &[&[&str]] = &[
    &["I have a dog called Max.", "My favorite color is blue."],
    &["Em tên là Minh, em 8 tuổi.", "Em thích ăn kem và bánh mì."],
    &["I like pizza and ice cream.", "I'm allergic to peanuts."],
    &[
        "Nhà em có một con chó tên là Milu.",
        "Em học lớp 3 ở trường Kim Đồng.",
    ],
    &[
        "When I grow up I want to be an astronaut.",
        "I love playing football.",
    ],
];

fn arg(name: &str, default: &str) -> String {
    pika_tests::command_line_option(name).unwrap_or_else(|| default.to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let url = arg("url", "http://127.0.0.1:8080");
    let key = arg("key", "");
    let jobs: usize = arg("jobs", "600").parse().expect("jobs");
    let concurrency: usize = arg("concurrency", "32").parse().expect("concurrency");
    let users: usize = arg("users", "100").parse().expect("users");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, url, key, next) = (http.clone(), url.clone(), key.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= jobs {
                    break;
                }
                let messages: Vec<Value> = CONVERSATIONS[n % CONVERSATIONS.len()]
                    .iter()
                    .map(|content| json!({"role": "user", "content": content}))
                    .collect();
                let submitted = Instant::now();
                let accepted: Value = http
                    .post(format!("{url}/v1/extractions"))
                    .bearer_auth(&key)
                    .header("Idempotency-Key", format!("load-{n}"))
                    .json(&json!({"user_id": format!("user-{}", n % users), "messages": messages}))
                    .send()
                    .await
                    .expect("submit")
                    .json()
                    .await
                    .expect("accepted");
                let job_id = accepted["job_id"].as_str().expect("job id").to_owned();
                let status = loop {
                    let job: Value = http
                        .get(format!("{url}/v1/jobs/{job_id}?wait=30"))
                        .bearer_auth(&key)
                        .send()
                        .await
                        .expect("status")
                        .json()
                        .await
                        .expect("job");
                    let status = job["status"].as_str().unwrap_or("?").to_owned();
                    if status != "queued" && status != "running" {
                        break (status, job["attempts"].as_i64().unwrap_or(0));
                    }
                };
                done.push((job_id, submitted.elapsed(), status));
            }
            done
        }));
    }
    let mut latencies = Vec::new();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for worker in workers {
        for (job_id, latency, (status, attempts)) in worker.await.expect("worker") {
            latencies.push(latency);
            *outcomes
                .entry(format!("{status} (attempts {attempts})"))
                .or_default() += 1;
            ids.insert(job_id);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "{jobs} jobs, {concurrency} clients: submit→searchable p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; {:.1} jobs/s; distinct jobs {}; outcomes {outcomes:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
        jobs as f64 / seconds,
        ids.len(),
    );
    assert_eq!(ids.len(), jobs, "every submission got its own job");
    assert_eq!(outcomes.len(), 1, "every job completed, once: {outcomes:?}");
}
