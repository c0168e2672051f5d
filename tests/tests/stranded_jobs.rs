//! No job is stranded: a job whose message was lost is found by the worker's sweep and
//! dispatched again (scaled out; the embedded queue lives in the same file as the log).

use std::time::Duration;

use lapin::options::QueuePurgeOptions;
use lapin::{Connection, ConnectionProperties};
use pika_api::Roles;
use pika_tests::{TestApp, amqp_url};
use pika_worker::amqp::{AmqpJobQueue, QueueNames};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_message_was_lost_is_dispatched_again_and_completes() {
    // The API and the relay run; no worker takes the job off the queue yet.
    let no_worker = Roles {
        worker: false,
        ..Roles::SERVE
    };
    let app = TestApp::spawn_roles(no_worker).await;
    let job_id = app.submit_message("kid", "I have a dog called Max.").await;

    // The relay publishes the job; then the broker loses it.
    let names = QueueNames::new(&app.prefix);
    let queue = AmqpJobQueue::new(amqp_url(), &app.prefix);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while queue.message_count(&names.work).await.unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job was never published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let purged = channel
        .queue_purge(names.work.as_str().into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    assert_eq!(purged, 1);
    connection.close(200, "done".into()).await.unwrap();

    // A worker process starts; the job has no message, yet it runs.
    let worker = app
        .spawn_role_beside_with(Roles::WORKER, |settings| {
            settings.insert("PIKA_JOB_REDISPATCH_AFTER_SECS".into(), "1".into());
        })
        .await;
    let job = app.job(&job_id, 25).await;
    assert_eq!(job["status"], "completed", "{job}");
    let facts = app.get_json("/v1/users/kid/facts").await;
    assert_eq!(facts["facts"].as_array().unwrap().len(), 1, "{facts}");
    worker.stop().await;
    app.stop().await;
}
