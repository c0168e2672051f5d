//! The `pika-memory` binary as an operator runs it.

use std::process::Command;

use pika_tests::TestDatabase;

fn pika_memory() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pika-memory"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("PIKA_")) {
        command.env_remove(name);
    }
    command
}

#[test]
fn help_describes_every_subcommand() {
    let output = pika_memory().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in ["serve", "api", "worker", "migrate", "projections", "keys"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}

#[tokio::test]
async fn migrate_creates_the_schema_and_is_idempotent() {
    let database = TestDatabase::empty().await;
    for run in 0..2 {
        let output = pika_memory()
            .arg("migrate")
            .env("PIKA_DATABASE_URL", &database.url)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "run {run} failed: {stderr}");
    }
    let pool = database.pool(1).await;
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_name = 'events' ORDER BY ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        columns.contains(&"global_position".to_owned()),
        "{columns:?}"
    );
    assert!(
        columns.contains(&"transaction_id".to_owned()),
        "{columns:?}"
    );
}

#[test]
fn a_bad_setting_stops_the_start_and_is_named() {
    let output = pika_memory()
        .arg("serve")
        .env("PIKA_HTTP_ADDR", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PIKA_HTTP_ADDR"), "{stderr}");
}

/// A rebuild can change rows at the same positions (a vector found this time, a fixed fold),
/// which running servers' caches cannot see: it bumps the cache epoch so every process reads
/// again.
#[tokio::test]
async fn a_rebuild_makes_running_servers_drop_their_cached_answers() {
    let database = TestDatabase::empty().await;
    let prefix = pika_tests::unique_prefix();
    let run = |args: &[&str]| {
        let output = pika_memory()
            .args(args)
            .env("PIKA_DATABASE_URL", &database.url)
            .env("PIKA_REDIS_URL", pika_tests::redis_url())
            .env("PIKA_REDIS_PREFIX", &prefix)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let mut redis = redis::Client::open(pika_tests::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let epoch_key = format!("{prefix}:epoch");
    run(&["migrate"]);
    let before: Option<i64> = redis::cmd("GET")
        .arg(&epoch_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let stdout = run(&["projections", "rebuild"]);
    let after: Option<i64> = redis::cmd("GET")
        .arg(&epoch_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(before, None);
    assert_eq!(after, Some(1), "{stdout}");
    assert!(stdout.contains("Redis epoch bumped"), "{stdout}");
}
