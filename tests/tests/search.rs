//! Search and favourites through the cache chain, against real Postgres, Redis and RabbitMQ.

use std::sync::Arc;
use std::time::Duration;

use pika_commands::{CommandContext, RetryPolicy, WriteModel};
use pika_domain::*;
use pika_tests::{
    TEST_API_SECRET, TEST_TENANT, TcpProxy, TestApp, host_port, redis_url, through_port,
};
use pika_worker::embedding::store::FactEmbeddings;
use serde_json::{Value, json};

async fn submit_and_wait(app: &TestApp, user: &str, messages: Value, wait: u32) -> Value {
    let accepted: Value = app
        .client
        .post(app.url("/v1/extractions"))
        .bearer_auth(TEST_API_SECRET)
        .json(&json!({"user_id": user, "messages": messages}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.job(accepted["job_id"].as_str().unwrap(), wait).await
}

async fn search(app: &TestApp, user: &str, query: &str) -> (String, Vec<String>) {
    let response = app
        .client
        .post(app.url("/v1/search"))
        .bearer_auth(TEST_API_SECRET)
        .json(&json!({"user_id": user, "query": query, "limit": 3, "types": ["fact"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = response.headers()["x-cache"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["served_from"], header.as_str());
    let values = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_owned())
        .collect();
    (header, values)
}

fn pets() -> Value {
    json!([{"role": "user", "content": "I have a cat named Mochi."},
           {"role": "user", "content": "We also have a dog called Max."}])
}

fn hamster() -> Value {
    json!([{"role": "user", "content": "I also have a hamster called Bean."}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_change_is_searchable_whichever_layer_answered_before_on_two_instances() {
    let first = TestApp::spawn().await;
    let second = first.spawn_beside().await;
    assert_eq!(
        submit_and_wait(&first, "kid", pets(), 20).await["status"],
        "completed"
    );

    let (layer, values) = search(&first, "kid", "what pets do I have").await;
    assert_eq!(layer, "L4");
    assert!(values.contains(&"Max".to_owned()), "{values:?}");
    assert_eq!(search(&first, "kid", "what pets do I have").await.0, "L0");
    assert_eq!(search(&second, "kid", "what pets do I have").await.0, "L1");
    assert_eq!(search(&second, "kid", "what pets do I have").await.0, "L0");

    assert_eq!(
        submit_and_wait(&second, "kid", hamster(), 20).await["status"],
        "completed"
    );
    for app in [&first, &second] {
        let (layer, values) = search(app, "kid", "what pets do I have").await;
        assert!(values.contains(&"Bean".to_owned()), "{layer}: {values:?}");
    }
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_cut_searches_answer_and_changes_made_meanwhile_are_seen_after() {
    let proxy = TcpProxy::start(&host_port(&redis_url()), true).await;
    let app = TestApp::spawn_with(|settings| {
        settings.insert(
            "PIKA_REDIS_URL".into(),
            through_port(&redis_url(), proxy.port),
        );
    })
    .await;
    assert_eq!(
        submit_and_wait(&app, "kid", pets(), 20).await["status"],
        "completed"
    );
    search(&app, "kid", "what pets do I have").await;
    assert_eq!(search(&app, "kid", "what pets do I have").await.0, "L0");

    proxy.cut();
    let (layer, values) = search(&app, "kid", "what pets do I have").await;
    assert_eq!(layer, "L4", "no cache is trusted while Redis is away");
    assert!(values.contains(&"Max".to_owned()));
    let during = submit_and_wait(&app, "kid", hamster(), 3).await;
    assert_ne!(during["status"], "failed", "{during}");
    let (_, values) = search(&app, "kid", "what pets do I have").await;
    assert!(
        values.contains(&"Bean".to_owned()),
        "answers come from Postgres: {values:?}"
    );

    proxy.restore();
    let job_id = during["job_id"].as_str().unwrap();
    let done: Value = app.get_json(&format!("/v1/jobs/{job_id}?wait=30")).await;
    assert_eq!(done["status"], "completed", "{done}");
    for _ in 0..3 {
        let (layer, values) = search(&app, "kid", "what pets do I have").await;
        assert!(
            values.contains(&"Bean".to_owned()),
            "{layer} served a stale answer: {values:?}"
        );
    }
    app.stop().await;
}

/// Writes facts straight through the write side, with their vectors, as the worker would.
async fn seed(app: &TestApp, user: &str, facts: &[(String, String, String)]) {
    let pool = app.database.pool(4).await;
    let model = WriteModel::postgres(
        pool.clone(),
        pika_tests::pg_data_keys(&pool),
        RetryPolicy::default(),
    );
    let embeddings = FactEmbeddings::new(
        pika_tests::embedder(),
        Arc::new(pika_worker::embedding::postgres_cache::PostgresEmbeddingCache::new(pool.clone())),
    );
    let passages: Vec<String> = facts
        .iter()
        .map(|(key, _, text)| pika_domain::fact_passage(key, text))
        .collect();
    for chunk in passages.chunks(64) {
        embeddings.ensure(chunk).await.unwrap();
    }
    let tenant = TenantId::parse(TEST_TENANT).unwrap();
    let user = UserId::parse(user).unwrap();
    let operations = facts
        .iter()
        .map(|(key, value, text)| FactOperation::Add {
            fact_id: FactId::generate(),
            candidate: FactCandidate {
                key: FactKey::parse(key).unwrap(),
                value: FactValue::parse(value).unwrap(),
                text: FactText::parse(text).unwrap(),
                confidence: Confidence::new(0.9).unwrap(),
                language: Language::parse("en").unwrap(),
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
            &tenant,
            &user,
            command,
            &CommandContext::new("seed", "test"),
        )
        .await
        .unwrap();
}

fn filler(count: usize) -> Vec<(String, String, String)> {
    let topics = [
        ("likes.food", "I like eating", "Con thích ăn"),
        ("likes.activity", "I enjoy", "Em thích"),
        ("likes.music", "I listen to", "Em hay nghe"),
        ("dislikes.food", "I do not like", "Em không thích"),
        ("likes.book", "I am reading", "Em đang đọc"),
    ];
    (0..count)
        .map(|n| {
            let (key, english, vietnamese) = topics[n % topics.len()];
            let value = format!("item {n}");
            let text = if n % 2 == 0 {
                format!("{english} item {n}")
            } else {
                format!("{vietnamese} món số {n}")
            };
            (key.to_owned(), value, text)
        })
        .collect()
}

/// Search reads the `facts` read model, which its own projection feeds: wait for that one (the
/// summary can be complete while the facts are still being applied on a busy machine).
async fn wait_for_facts(app: &TestApp, user: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body: Value = app.get_json(&format!("/v1/users/{user}/facts")).await;
        if body["facts"].as_array().map(Vec::len) == Some(count) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the facts read model never showed the seeded facts"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_english_question_finds_a_vietnamese_memory_that_shares_no_word_with_it() {
    let app = TestApp::spawn().await;
    let facts: Vec<(String, String, String)> = [
        ("fear", "bóng tối", "Bé sợ bóng tối"),
        ("likes.food", "phở", "Bé thích ăn phở"),
        ("pet.dog", "Vàng", "Bé có một con chó tên là Vàng"),
        ("school.grade", "lớp hai", "Bé học lớp hai"),
        ("likes.sport", "đá bóng", "Bé thích chơi đá bóng"),
        ("family.mother.job", "giáo viên", "Mẹ của bé là giáo viên"),
        ("likes.color", "màu xanh", "Bé thích màu xanh"),
        ("home.city", "Đà Nẵng", "Bé sống ở Đà Nẵng"),
    ]
    .into_iter()
    .map(|(key, value, text)| (key.to_owned(), value.to_owned(), text.to_owned()))
    .collect();
    seed(&app, "kid-vi", &facts).await;
    wait_for_facts(&app, "kid-vi", facts.len()).await;
    // An English model relates these to the Vietnamese facts no better than chance, and no
    // word is shared, so only a multilingual model finds them.
    let cases = [
        ("what is the child afraid of at night", "bóng tối"),
        ("which school year is he in", "lớp hai"),
        ("what does his mum do for work", "giáo viên"),
    ];
    for (query, expected) in cases {
        let (_, values) = search(&app, "kid-vi", query).await;
        assert_eq!(
            values.first().map(String::as_str),
            Some(expected),
            "{query:?} → {values:?}"
        );
    }
    app.stop().await;
}

/// A fact is embedded with its key ("pet fish. Bé nuôi một con cá vàng"): the English key
/// anchors an English question to a Vietnamese text. By text alone, "what pet does he keep" and
/// "which school does he go to" rank their answers third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_facts_key_helps_an_english_question_find_it_among_vietnamese_facts() {
    let app = TestApp::spawn().await;
    let facts: Vec<(String, String, String)> = [
        ("fear", "con nhện", "Bé sợ con nhện"),
        ("health.allergy", "tôm", "Bé bị dị ứng tôm"),
        ("likes.sport", "cầu lông", "Bé thích chơi cầu lông"),
        ("goal.dream_job", "bác sĩ", "Lớn lên bé muốn làm bác sĩ"),
        ("family.sister", "Lan", "Bé có một chị gái tên là Lan"),
        ("pet.fish", "cá vàng", "Bé nuôi một con cá vàng"),
        ("school.name", "trường Lê Lợi", "Bé học trường Lê Lợi"),
        (
            "favorite.color",
            "màu tím",
            "Màu yêu thích của bé là màu tím",
        ),
        ("likes.thing", "diều", "Bé thích diều"),
        ("likes.thing", "truyện tranh", "Bé thích truyện tranh"),
        ("likes.activity", "vẽ tranh", "Bé thích vẽ tranh"),
    ]
    .into_iter()
    .map(|(key, value, text)| (key.to_owned(), value.to_owned(), text.to_owned()))
    .collect();
    seed(&app, "kid-keys", &facts).await;
    wait_for_facts(&app, "kid-keys", facts.len()).await;
    for (query, expected) in [
        ("what pet does he keep", "cá vàng"),
        ("which school does he go to", "trường Lê Lợi"),
        ("what is the kid afraid of", "con nhện"),
    ] {
        let (_, values) = search(&app, "kid-keys", query).await;
        assert_eq!(
            values.first().map(String::as_str),
            Some(expected),
            "{query:?} → {values:?}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_naming_a_fact_rank_it_in_the_top_three_among_hundreds_in_english_and_vietnamese() {
    let app = TestApp::spawn().await;
    let mut facts = filler(220);
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
    facts.push((
        "health.allergy".into(),
        "peanuts".into(),
        "I am allergic to peanuts".into(),
    ));
    seed(&app, "kid-many", &facts).await;
    wait_for_facts(&app, "kid-many", facts.len()).await;
    let cases = [
        ("what's my dog called", "Milu"),
        ("Milu", "Milu"),
        ("con mèo của em tên là gì", "Mướp"),
        ("Mướp", "Mướp"),
        ("is she allergic to anything?", "peanuts"),
    ];
    for (query, expected) in cases {
        let (_, values) = search(&app, "kid-many", query).await;
        assert!(
            values.contains(&expected.to_owned()),
            "{query:?} → {values:?}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn favourites_come_from_the_summary_and_bad_searches_are_refused() {
    let app = TestApp::spawn().await;
    let messages =
        json!([{"role": "user", "content": "My favorite food is pizza. I like swimming."}]);
    assert_eq!(
        submit_and_wait(&app, "kid-fav", messages, 20).await["status"],
        "completed"
    );
    let response = app
        .client
        .get(app.url("/v1/users/kid-fav/favorites"))
        .bearer_auth(TEST_API_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-cache"], "L2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["favorites"]["food"], "pizza", "{body}");
    assert_eq!(body["served_from"], "L2");

    for (body, status) in [
        (json!({"user_id": "kid", "query": ""}), 422),
        (json!({"user_id": "kid", "query": "x", "limit": 0}), 422),
        (json!({"user_id": "kid", "query": "x", "limit": 101}), 422),
        (json!({"user_id": "kid", "query": "x", "min_score": 2}), 422),
        (json!({"user_id": "k d", "query": "x"}), 422),
        (json!({"user_id": "kid", "query": "x", "sort": "asc"}), 422),
        (
            json!({"user_id": "kid", "query": "x", "keys": vec!["likes.*"; 20_000]}),
            422,
        ),
        (
            json!({"user_id": "kid", "query": "x", "kinds": ["x".repeat(200)]}),
            422,
        ),
    ] {
        let response = app
            .client
            .post(app.url("/v1/search"))
            .bearer_auth(TEST_API_SECRET)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
    }
    app.stop().await;
}

/// Adds, corrects and retracts through the API, waiting until the facts read model has each.
async fn command(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = app
        .client
        .request(method, app.url(path))
        .bearer_auth(TEST_API_SECRET);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let written: Value = response.json().await.unwrap();
    let position = written["position"].as_i64().unwrap();
    app.get_json(&format!(
        "/v1/users/refresh-kid/facts?min_position={position}"
    ))
    .await;
    written
}

/// After a user's changes the first search refreshes the index this process holds, reading
/// only what changed: it must answer as a full load does (here, by a process holding nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_changes_a_refreshed_index_answers_as_a_full_load_does() {
    use pika_projections::ReadStore;
    use pika_projections::postgres::PostgresReadStore;
    use pika_projections::search::{SearchFilter, rank};
    let app = TestApp::spawn().await;
    let user = "refresh-kid";
    let add = |key: &str, value: &str| {
        Some(json!({"key": key, "value": value, "text": format!("{key} is {value}")}))
    };
    let post = reqwest::Method::POST;
    let path = format!("/v1/users/{user}/facts");
    let mut ids = Vec::new();
    for (key, value) in [
        ("pet.dog", "Max"),
        ("likes.food", "pho"),
        ("likes.color", "blue"),
    ] {
        let written = command(&app, post.clone(), &path, add(key, value)).await;
        ids.push(written["fact_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(search(&app, user, "dog").await.1[0], "Max");
    let pool = app.database.pool(2).await;
    let reads = PostgresReadStore::new(pool.clone(), pika_tests::pg_data_keys(&pool));
    let tenant = TEST_TENANT;
    let model = pika_worker::embedding::local::MODEL_NAME;
    let before = reads.load_index(tenant, user, model).await.unwrap();

    command(&app, post.clone(), &path, add("pet.cat", "Mochi")).await;
    let correct = Some(json!({"value": "Maximus"}));
    command(
        &app,
        reqwest::Method::PATCH,
        &format!("/v1/facts/{}", ids[0]),
        correct,
    )
    .await;
    command(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/facts/{}", ids[2]),
        None,
    )
    .await;

    let (refreshed, changes) = reads
        .refresh_index(tenant, user, model, &before)
        .await
        .unwrap();
    assert_eq!((changes.to_read.len(), changes.kept), (2, 1), "{changes:?}");
    let full = reads.load_index(tenant, user, model).await.unwrap();
    let ranked = |index| {
        ["dog", "food", "blue", "cat Mochi"]
            .map(|query| rank(index, query, None, &SearchFilter::default(), 5, 0.0))
            .map(|results| {
                results
                    .iter()
                    .map(|r| serde_json::to_value(r).unwrap().to_string())
                    .collect::<Vec<_>>()
            })
    };
    assert_eq!(ranked(&refreshed), ranked(&full));

    // Only additions and corrections since: the refresh reads just those, no listing.
    command(&app, post.clone(), &path, add("likes.color", "green")).await;
    let (again, changes) = reads
        .refresh_index(tenant, user, model, &refreshed)
        .await
        .unwrap();
    assert_eq!((changes.to_read.len(), changes.kept), (1, 3), "{changes:?}");
    let full = reads.load_index(tenant, user, model).await.unwrap();
    assert_eq!(ranked(&again), ranked(&full));
    assert_eq!(again.len(), 4);

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while search(&app, user, "dog").await.1[0] != "Maximus" {
        assert!(
            std::time::Instant::now() < deadline,
            "the correction never showed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A process sharing no cache with the first: it reads the user's facts whole. Queries
    // neither asked before, so both rank them now (L4), with the query's vector.
    let fresh_process = app
        .spawn_role_beside_with(pika_api::Roles::API, |settings| {
            settings.insert("PIKA_REDIS_PREFIX".into(), pika_tests::unique_prefix());
        })
        .await;
    for query in [
        "which dog",
        "food we like",
        "blue things",
        "what pets do I have",
    ] {
        let (layer, refreshed) = search(&app, user, query).await;
        let (fresh_layer, whole) = search(&fresh_process, user, query).await;
        assert_eq!((layer.as_str(), fresh_layer.as_str()), ("L4", "L4"));
        assert_eq!(refreshed, whole, "{query}");
    }
    fresh_process.stop().await;
    app.stop().await;
}

/// While Redis is unreachable a request does not wait on it: after a failed call the cache
/// fails at once for a while, rather than every call reconnecting and waiting out a timeout
/// (under a cut that made each search take ~250 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_calls_fail_at_once_instead_of_each_reconnecting() {
    use pika_projections::query::cache::RedisCache;
    let proxy = TcpProxy::start(&host_port(&redis_url()), true).await;
    let client = redis::Client::open(through_port(&redis_url(), proxy.port)).unwrap();
    let cache = RedisCache::new(client, &pika_tests::unique_prefix());
    cache.get_bytes("probe").await.unwrap();
    proxy.cut_and_settle().await;
    let before = proxy.connections_accepted();
    for _ in 0..20 {
        assert!(cache.get_bytes("probe").await.is_err());
    }
    let attempts = proxy.connections_accepted() - before;
    assert!(attempts <= 1, "{attempts} connection attempts for 20 calls");
    proxy.restore();
}
