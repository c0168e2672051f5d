//! Drills too long for every CI run (minutes each), run by hand before a release and
//! recorded in docs/RELIABILITY.md:
//!
//! `cargo nextest run -p pika-tests --test drills --run-ignored only --no-capture`

use std::sync::Arc;
use std::time::{Duration, Instant};

use pika_tests::drill::{DRILL_JOBS, OUTAGE, assert_recovered, job_statuses, until_all_completed};
use pika_tests::llm_stub::LlmStub;
use pika_tests::{TcpProxy, TestApp, amqp_url, host_port, through_port};
use serde_json::json;
use sqlx::PgPool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 2-minute drill; see the module docs"]
async fn a_postgres_cut_of_a_minute_with_a_slow_llm_and_a_backlog_loses_and_strands_nothing() {
    cut_with_a_backlog("PIKA_DATABASE_URL", "127.0.0.1:5432").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 2-minute drill; see the module docs"]
async fn a_rabbitmq_cut_of_a_minute_with_a_slow_llm_and_a_backlog_loses_and_strands_nothing() {
    cut_with_a_backlog("PIKA_AMQP_URL", &host_port(&amqp_url())).await;
}

/// 600 jobs of 100 users submitted, the dependency behind `setting` cut for a minute while
/// the LLM takes a second a call: every job completes within two minutes of the restore.
async fn cut_with_a_backlog(setting: &'static str, upstream: &str) {
    let (_stub, llm_url) =
        LlmStub::start_answering(Arc::new(|_: &str| (Duration::from_secs(1), json!([])))).await;
    let proxy = TcpProxy::start(upstream, true).await;
    let port = proxy.port;
    let app = TestApp::spawn_with(move |settings| {
        let url = settings[setting].clone();
        settings.insert(setting.into(), through_port(&url, port));
        settings.insert("PIKA_EXTRACTOR".into(), "llm".into());
        settings.insert("PIKA_LLM_BASE_URL".into(), llm_url);
        settings.insert("PIKA_LLM_MODEL".into(), "stub-model".into());
    })
    .await;
    // Read straight from Postgres, past the proxy, to watch the jobs during the cut.
    let direct = PgPool::connect(&app.database.url).await.unwrap();
    for n in 0..DRILL_JOBS {
        app.submit_message(&format!("kid-{}", n % 100), "Hôm nay em đi học.")
            .await;
    }
    proxy.cut();
    let before_cut = job_statuses(&direct).await;
    tokio::time::sleep(OUTAGE).await;
    proxy.restore();
    let (last, recovery) = until_all_completed(&direct, Instant::now(), || {}).await;
    println!(
        "{setting}: {DRILL_JOBS} jobs; at the cut {before_cut:?}; {OUTAGE:?} cut; after the restore {last:?} in {recovery:.1?}"
    );
    assert_recovered(&last, recovery);
    app.stop().await;
}
