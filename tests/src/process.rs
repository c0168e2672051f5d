//! The real `pika-memory` binary as a child process, for tests that kill or signal it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// `binary serve` with exactly `settings` as its PIKA_* environment.
pub fn start_serve(binary: &Path, settings: &[(String, String)]) -> Child {
    start_command(binary, "serve", settings)
}

/// `binary COMMAND` (`serve`, `api`, `worker`, `migrate`) with exactly `settings` as its
/// PIKA_* environment.
pub fn start_command(binary: &Path, subcommand: &str, settings: &[(String, String)]) -> Child {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("PIKA_")) {
        command.env_remove(name);
    }
    command
        .arg(subcommand)
        .envs(settings.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts")
}

pub async fn wait_until_healthy(client: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not come up at {base}");
}
