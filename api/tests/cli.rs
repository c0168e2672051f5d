//! The `pika-memory` binary as an operator runs it.

use std::process::Command;

use pika_tests::TestDatabase;

fn pika_memory() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pika-memory"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("PIKA_")) {
        command.env_remove(name);
    }
    command.env("PIKA_MASTER_KEY", pika_tests::TEST_MASTER_KEY);
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

/// Without the master key the scaled-out server does not start, and says which setting is
/// missing; with another key than the one the database was sealed with, it stops too. Nothing
/// is ever written in clear text instead.
#[tokio::test]
async fn a_missing_or_wrong_master_key_stops_the_start_with_a_clear_message() {
    let database = TestDatabase::empty().await;
    let migrated = pika_memory()
        .env_remove("PIKA_MASTER_KEY")
        .arg("migrate")
        .env("PIKA_DATABASE_URL", &database.url)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "migrate needs no master key");

    let missing = pika_memory()
        .env_remove("PIKA_MASTER_KEY")
        .args(["projections", "status"])
        .env("PIKA_DATABASE_URL", &database.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        stderr.contains("PIKA_MASTER_KEY") && stderr.contains("not set"),
        "{stderr}"
    );

    let adopted = pika_memory()
        .args(["projections", "status"])
        .env("PIKA_DATABASE_URL", &database.url)
        .output()
        .unwrap();
    assert!(
        adopted.status.success(),
        "{}",
        String::from_utf8_lossy(&adopted.stderr)
    );

    let other_key = pika_domain::MasterKey::generate().to_text();
    let wrong = pika_memory()
        .args(["projections", "status"])
        .env("PIKA_DATABASE_URL", &database.url)
        .env("PIKA_MASTER_KEY", other_key)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(
        stderr.contains("is not the key this database was sealed with"),
        "{stderr}"
    );

    let malformed = pika_memory()
        .args(["projections", "status"])
        .env("PIKA_DATABASE_URL", &database.url)
        .env("PIKA_MASTER_KEY", "not-a-key")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert!(!malformed.status.success());
    assert!(stderr.contains("PIKA_MASTER_KEY"), "{stderr}");
}

/// The embedded mode makes its master key on first start, readable by its owner only, and
/// uses the same one after a restart.
#[tokio::test]
async fn the_embedded_mode_creates_its_master_key_file_once_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = pika_tests::data_dir::TestDataDir::new();
    let status = || {
        pika_memory()
            .env_remove("PIKA_MASTER_KEY")
            .args(["projections", "status"])
            .env("PIKA_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    let first = status();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let path = dir.path().join("master.key");
    let key = std::fs::read_to_string(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = status();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        key,
        "the same key after a restart"
    );
}
