//! Changing the embedding model: `pika-memory embeddings reembed` gives every memory a vector
//! of the new model, while the service keeps answering.

use std::collections::HashMap;

use pika_api::Roles;
use pika_tests::{TEST_API_SECRET, TestApp, config_from, minilm_dir, model_dir};
use serde_json::{Value, json};

const FACTS: &[(&str, &str, &str)] = &[
    ("fear", "bóng tối", "Bé sợ bóng tối"),
    ("likes.food", "phở", "Bé thích ăn phở"),
    ("school.grade", "lớp hai", "Bé học lớp hai"),
    ("family.mother.job", "giáo viên", "Mẹ của bé là giáo viên"),
    ("home.city", "Đà Nẵng", "Bé sống ở Đà Nẵng"),
];

fn english_model(settings: &mut HashMap<String, String>) {
    settings.insert("PIKA_EMBEDDING_MODEL".into(), "all-MiniLM-L6-v2".into());
    settings.insert("PIKA_MODEL_DIR".into(), minilm_dir());
}

fn multilingual_model(settings: &mut HashMap<String, String>) {
    settings.remove("PIKA_EMBEDDING_MODEL");
    settings.insert("PIKA_MODEL_DIR".into(), model_dir());
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(TEST_API_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn first_value(app: &TestApp, query: &str) -> Option<String> {
    let body = post(
        app,
        "/v1/search",
        json!({"user_id": "kid", "query": query, "limit": 3, "types": ["fact"]}),
    )
    .await;
    body["results"][0]["value"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_model_change_reembed_lets_old_memories_be_found_by_meaning_again() {
    // Memories kept while the English model was configured...
    let old = TestApp::spawn_with(english_model).await;
    let mut position = 0;
    for (key, value, text) in FACTS {
        let written = post(
            &old,
            "/v1/users/kid/facts",
            json!({"key": key, "value": value, "text": text, "language": "vi"}),
        )
        .await;
        position = written["position"].as_i64().unwrap();
    }
    old.get_json(&format!("/v1/users/kid/facts?min_position={position}"))
        .await;
    // ...and a process of the same deployment now running the multilingual one. Its question
    // shares no word with the fact, and the fact's vector is of the other model: not found.
    let new = old
        .spawn_role_beside_with(Roles::SERVE, multilingual_model)
        .await;
    let question = "what is the child afraid of at night";
    assert_eq!(first_value(&new, question).await, None);

    let mut settings = new.settings().clone();
    multilingual_model(&mut settings);
    let config = config_from(&settings);
    let report = pika_api::cli::embeddings_reembed(&config, false)
        .await
        .unwrap();
    assert_eq!(report.model, "multilingual-e5-small");
    assert_eq!(report.texts, FACTS.len());
    assert_eq!(report.embedded, FACTS.len());
    let again = pika_api::cli::embeddings_reembed(&config, false)
        .await
        .unwrap();
    assert_eq!(again.embedded, 0, "a second run has nothing left to do");

    // The running process drops its cached answer and finds the fact by meaning.
    assert_eq!(
        first_value(&new, question).await.as_deref(),
        Some("bóng tối")
    );
    new.stop().await;
    old.stop().await;
}
