//! The bounded load run CI does, in both modes: a realistic mix for a few hundred jobs, failing
//! on any lost, doubled, unfinished or misplaced job.

use pika_tests::TestApp;
use pika_tests::load::{LoadSettings, run_load};

fn bounded() -> LoadSettings {
    LoadSettings {
        users: 20,
        jobs: 200,
        concurrency: 12,
        searches_per_job: 2,
        rate: None,
        duration: None,
        ..LoadSettings::default()
    }
}

async fn a_bounded_mixed_load_loses_nothing(app: TestApp) {
    let report = run_load(&app.address, pika_tests::TEST_API_SECRET, &bounded()).await;
    println!("{}", report.render());
    assert_eq!(report.accepted_jobs, 200, "{}", report.render());
    if !report.nothing_lost() && app.data_dir.is_none() {
        println!("{}", where_the_read_side_stands(&app).await);
    }
    assert!(report.nothing_lost(), "{report:?}");
    for (operation, stats) in &report.operations {
        assert_eq!(stats.errors, 0, "{operation}: {:?}", stats.last_error);
    }
    app.stop().await;
}

/// What to read first when a job is left unfinished: how far each projection got against the
/// log, and every write transaction open on the server (any database), oldest first.
async fn where_the_read_side_stands(app: &TestApp) -> String {
    let pool = app.database.pool(1).await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT projection, format('at %s/%s, %s applied, updated %s ago', transaction_id,
                global_position, events_applied, now() - updated_at)
           FROM projection_checkpoints
         UNION ALL
         SELECT 'log', format('%s events, newest %s/%s', count(*), max(transaction_id::text),
                max(global_position))
           FROM events
         UNION ALL
         SELECT format('open in %s (pid %s)', datname, pid),
                format('xid %s for %s: %s', backend_xid, now() - xact_start, left(query, 120))
           FROM pg_stat_activity WHERE backend_xid IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    rows.into_iter()
        .map(|(what, state)| format!("{what}: {state}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_mixed_load_loses_nothing_scaled_out() {
    a_bounded_mixed_load_loses_nothing(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_mixed_load_loses_nothing_embedded() {
    a_bounded_mixed_load_loses_nothing(TestApp::spawn_embedded().await).await;
}
