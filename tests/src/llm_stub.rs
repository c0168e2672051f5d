//! A local server that speaks the OpenAI chat-completions protocol, standing in for an LLM:
//! answers are queued by the test (facts, a slow answer, or nonsense), requests are recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub enum Answer {
    Facts(Value),
    /// Waits, then answers with no facts.
    Slow(Duration),
    /// Prose instead of the JSON asked for.
    Malformed,
}

#[derive(Debug, Clone, Default)]
pub struct LlmStub {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl LlmStub {
    /// Serves on a free port; returns the stub and its base URL (`http://127.0.0.1:N/v1`).
    pub async fn start(answers: Vec<Answer>) -> (Self, String) {
        let stub = Self {
            answers: Arc::new(Mutex::new(answers.into())),
            ..Self::default()
        };
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!(
            "http://127.0.0.1:{}/v1",
            listener.local_addr().expect("bound").port()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (stub, url)
    }

    /// The chat requests received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("requests").clone()
    }
}

async fn chat(State(stub): State<LlmStub>, Json(request): Json<Value>) -> Json<Value> {
    stub.requests.lock().expect("requests").push(request);
    let answer = stub
        .answers
        .lock()
        .expect("answers")
        .pop_front()
        .unwrap_or(Answer::Malformed);
    let content = match answer {
        Answer::Facts(facts) => json!({"facts": facts}).to_string(),
        Answer::Slow(delay) => {
            tokio::time::sleep(delay).await;
            json!({"facts": []}).to_string()
        }
        Answer::Malformed => "Sure! Here are the facts: the user has a dog.".to_owned(),
    };
    Json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
    }))
}
