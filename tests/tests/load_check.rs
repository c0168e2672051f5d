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
    assert!(report.nothing_lost(), "{report:?}");
    for (operation, stats) in &report.operations {
        assert_eq!(stats.errors, 0, "{operation}: {:?}", stats.last_error);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_mixed_load_loses_nothing_scaled_out() {
    a_bounded_mixed_load_loses_nothing(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_mixed_load_loses_nothing_embedded() {
    a_bounded_mixed_load_loses_nothing(TestApp::spawn_embedded().await).await;
}
