//! Secrets are never printed: not in a `Debug` of the settings or of what is built from them,
//! not in any log line, even at trace level.

use std::io::Write;
use std::sync::{Arc, Mutex};

use pika_tests::llm_stub::LlmStub;
use pika_tests::{TEST_API_SECRET, TestApp, config_from};
use pika_worker::embedding::openai::OpenAiEmbedder;
use pika_worker::extraction::llm::LlmExtractor;
use pika_worker::{EmbedderSettings, ExtractorSettings};
use serde_json::json;

/// Everything logged in this test process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_keys_appear_in_no_log_line_and_no_debug_output() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .init();
    let llm_key = format!("sk-llm-{}", uuid::Uuid::now_v7().simple());
    let embeddings_key = format!("sk-embeddings-{}", uuid::Uuid::now_v7().simple());
    let wrong_key = format!("sk-wrong-{}", uuid::Uuid::now_v7().simple());
    let (_stub, url) =
        LlmStub::start_answering(Arc::new(|_: &str| (std::time::Duration::ZERO, json!([])))).await;
    let app = {
        let (url, llm_key) = (url.clone(), llm_key.clone());
        TestApp::spawn_with(move |settings| {
            settings.insert("PIKA_EXTRACTOR".into(), "llm".into());
            settings.insert("PIKA_LLM_BASE_URL".into(), url);
            settings.insert("PIKA_LLM_MODEL".into(), "stub-model".into());
            settings.insert("PIKA_LLM_API_KEY".into(), llm_key);
        })
        .await
    };

    // A job that calls the LLM with its key, a search, and a request with a wrong key.
    let job_id = app.submit_message("kid", "I have a dog.").await;
    let job = app.job(&job_id, 25).await;
    assert_eq!(job["status"], "completed", "{job}");
    let search = app
        .client
        .post(app.url("/v1/search"))
        .bearer_auth(TEST_API_SECRET)
        .json(&json!({"user_id": "kid", "query": "dog"}))
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    let refused = app
        .client
        .post(app.url("/v1/search"))
        .bearer_auth(&wrong_key)
        .json(&json!({"user_id": "kid", "query": "dog"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let mut settings = app.settings().clone();
    settings.insert("PIKA_EMBEDDER".into(), "openai".into());
    settings.insert(
        "PIKA_EMBEDDINGS_BASE_URL".into(),
        "http://127.0.0.1:9/v1".into(),
    );
    settings.insert("PIKA_EMBEDDINGS_MODEL".into(), "stub".into());
    settings.insert("PIKA_EMBEDDINGS_API_KEY".into(), embeddings_key.clone());
    let config = config_from(&settings);
    let printed = [
        format!("{config:?}"),
        format!("{:?}", config.extractor_settings()),
        format!("{:?}", config.embedder_settings()),
        format!("{:?}", llm_extractor(&config)),
        format!("{:?}", openai_embedder(&config)),
    ];
    app.stop().await;

    let logged = logs.text();
    assert!(logged.contains("TRACE"), "trace-level logging was on");
    assert!(
        logged.contains("chat/completions") || logged.contains("job"),
        "the job was logged"
    );
    let api_secret = TEST_API_SECRET.to_owned();
    for secret in [&llm_key, &embeddings_key, &wrong_key, &api_secret] {
        assert!(
            !logged.contains(secret.as_str()),
            "a log line shows {secret}"
        );
        for output in &printed {
            assert!(!output.contains(secret.as_str()), "{output}");
        }
    }
    assert!(
        printed[0].contains("stub-model"),
        "the settings were printed: {}",
        printed[0]
    );
}

fn llm_extractor(config: &pika_api::config::Config) -> LlmExtractor {
    let ExtractorSettings::Llm(endpoint) = config.extractor_settings() else {
        panic!("the LLM extractor is configured")
    };
    LlmExtractor::new(endpoint).unwrap()
}

fn openai_embedder(config: &pika_api::config::Config) -> OpenAiEmbedder {
    let EmbedderSettings::OpenAi(endpoint) = config.embedder_settings() else {
        panic!("the OpenAI embedder is configured")
    };
    OpenAiEmbedder::new(endpoint).unwrap()
}
