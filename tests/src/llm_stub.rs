//! A local server that speaks the OpenAI chat-completions protocol, standing in for an LLM:
//! answers are queued by the test (facts, a slow answer, or nonsense), requests are recorded.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Answers a request by what it says (the whole request as JSON text): for requests that
/// arrive at once, in no fixed order. The answer's facts come after its delay.
pub type Responder = Arc<dyn Fn(&str) -> (Duration, Value) + Send + Sync>;

#[derive(Clone, Default)]
pub struct LlmStub {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    responder: Option<Responder>,
    requests: Arc<Mutex<Vec<Value>>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl std::fmt::Debug for LlmStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmStub").finish_non_exhaustive()
    }
}

impl LlmStub {
    /// Serves on a free port; returns the stub and its base URL (`http://127.0.0.1:N/v1`).
    pub async fn start(answers: Vec<Answer>) -> (Self, String) {
        Self {
            answers: Arc::new(Mutex::new(answers.into())),
            ..Self::default()
        }
        .serve(0)
        .await
    }

    /// Serves answers made by `responder` from each request.
    pub async fn start_answering(responder: Responder) -> (Self, String) {
        Self::start_answering_on(0, responder).await
    }

    /// The same on `port` (0: a free one).
    pub async fn start_answering_on(port: u16, responder: Responder) -> (Self, String) {
        Self {
            responder: Some(responder),
            ..Self::default()
        }
        .serve(port)
        .await
    }

    async fn serve(self, port: u16) -> (Self, String) {
        let stub = self;
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("a free port");
        let url = format!(
            "http://127.0.0.1:{}/v1",
            listener.local_addr().expect("bound").port()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (stub, url)
    }

    /// The most requests that were being answered at the same moment.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    /// How many requests arrived, without copying them.
    pub fn requests_seen(&self) -> usize {
        self.requests.lock().expect("requests").len()
    }

    /// The chat requests received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("requests").clone()
    }
}

async fn chat(State(stub): State<LlmStub>, Json(request): Json<Value>) -> Json<Value> {
    let now = stub.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stub.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let answer = answer(&stub, request).await;
    stub.in_flight.fetch_sub(1, Ordering::SeqCst);
    answer
}

async fn answer(stub: &LlmStub, request: Value) -> Json<Value> {
    let text = request.to_string();
    stub.requests.lock().expect("requests").push(request);
    if let Some(responder) = &stub.responder {
        let (delay, facts) = responder(&text);
        tokio::time::sleep(delay).await;
        return completion(json!({"facts": facts}).to_string());
    }
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
    completion(content)
}

fn completion(content: String) -> Json<Value> {
    Json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
    }))
}
