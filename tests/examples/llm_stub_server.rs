//! A stand-in LLM for benchmarks (`LLM_DELAY_MS=1000 scripts/bench-extraction.sh`): speaks the
//! OpenAI chat protocol, answers every request after a fixed delay with one new fact, so the
//! worker's throughput with a slow model can be measured without one.
//!
//! Arguments: --port N [--delay-ms 1000]. Prints its base URL once listening.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pika_tests::llm_stub::LlmStub;
use serde_json::json;

fn arg(name: &str, default: &str) -> String {
    pika_tests::command_line_option(name).unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() {
    let port: u16 = arg("port", "0").parse().expect("--port is a number");
    let delay = Duration::from_millis(arg("delay-ms", "1000").parse().expect("--delay-ms"));
    let answered = Arc::new(AtomicUsize::new(0));
    let (stub, url) = LlmStub::start_answering_on(
        port,
        Arc::new(move |_: &str| {
            let n = answered.fetch_add(1, Ordering::SeqCst);
            let value = format!("snack {n}");
            let fact = json!({"key": "likes.food", "value": value, "text": format!("I like {value}"),
                              "confidence": 0.9, "language": "en", "polarity": "assert",
                              "message_indexes": [0]});
            (delay, json!([fact]))
        }),
    )
    .await;
    println!("{url}");
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        eprintln!(
            "{} requests, at most {} at once",
            stub.requests_seen(),
            stub.most_in_flight()
        );
    }
}
