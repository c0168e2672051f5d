//! The test harness: each test gets its own Postgres database, Redis key prefix and RabbitMQ
//! queue prefix, so tests run in parallel against the real servers without seeing each other.
//!
//! Servers are found at `PIKA_TEST_DATABASE_URL` (an admin URL; default the local `postgres`
//! database), `PIKA_TEST_REDIS_URL` and `PIKA_TEST_AMQP_URL`, defaulting to the local ones.

pub mod backlog;
pub mod data_dir;
pub mod drill;
pub mod fixtures;
pub mod history;
pub mod kept_state;
pub mod llm_stub;
pub mod load;
pub mod process;

use std::collections::HashMap;

use pika_api::Roles;
use pika_api::{Application, Config};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The API key every test app accepts, for tenant `test`.
pub const TEST_TENANT: &str = "test";
pub const TEST_API_SECRET: &str = "test-secret-0123456789";

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

pub fn admin_database_url() -> String {
    setting("PIKA_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
}

pub fn redis_url() -> String {
    setting("PIKA_TEST_REDIS_URL", DEFAULT_REDIS_URL)
}

/// The default embedding model, fetched by `scripts/fetch-model.sh` into the workspace.
pub fn model_dir() -> String {
    setting(
        "PIKA_TEST_MODEL_DIR",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/multilingual-e5-small"
        ),
    )
}

/// The default local embedder, as the service builds it.
pub fn embedder() -> std::sync::Arc<dyn pika_domain::Embedder> {
    std::sync::Arc::new(
        pika_worker::embedding::onnx::OnnxEmbedder::load(&pika_worker::OnnxModelFiles {
            model_dir: model_dir().into(),
            runtime_library: onnxruntime_library().into(),
            threads: 2,
        })
        .expect("the embedding model (run scripts/fetch-model.sh)"),
    )
}

/// The English model, still selectable.
pub fn minilm_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../models/all-MiniLM-L6-v2").to_owned()
}

/// ONNX Runtime's library, fetched beside the models.
pub fn onnxruntime_library() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/onnxruntime/libonnxruntime.so"
    )
    .to_owned()
}

pub fn amqp_url() -> String {
    setting("PIKA_TEST_AMQP_URL", DEFAULT_AMQP_URL)
}

/// `postgres://host/db?x` with its database replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").expect("database URL has a scheme");
    let host = rest.split_once('/').map_or(rest, |(host, _)| host);
    match query {
        Some(query) => format!("{scheme}://{host}/{database}?{query}"),
        None => format!("{scheme}://{host}/{database}"),
    }
}

/// A database of its own for one test, dropped when the value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// An empty database, with no tables.
    pub async fn empty() -> Self {
        let name = format!("pika_test_{}", Uuid::new_v4().simple());
        let admin = admin_database_url();
        let mut connection = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Postgres at {admin}: {e}"));
        connection
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let url = with_database(&admin, &name);
        Self { name, url }
    }

    /// A database with every migration applied.
    pub async fn migrated() -> (Self, PgPool) {
        let database = Self::empty().await;
        let pool = database.pool(8).await;
        pika_commands::postgres::migrate(&pool)
            .await
            .expect("migrate");
        (database, pool)
    }

    pub async fn pool(&self, max_connections: u32) -> PgPool {
        pika_commands::postgres::connect_postgres(&self.url, max_connections)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = admin_database_url();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs outside async code, possibly inside a runtime that is shutting down, so the
        // clean-up gets a small runtime of its own on its own thread.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut connection) = PgConnection::connect(&admin).await {
                    connection.execute(statement.as_str()).await.ok();
                }
            });
        });
        cleanup.join().ok();
    }
}

/// A prefix unique to one test, for Redis keys and RabbitMQ queue names.
pub fn unique_prefix() -> String {
    format!("pika-test-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// The master key of every scaled-out test app and of the stores tests build by hand (hex).
pub const TEST_MASTER_KEY: &str =
    "7e1b0c5a9d3f4e2a8b6c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c";

pub fn master_key() -> std::sync::Arc<pika_domain::MasterKey> {
    std::sync::Arc::new(pika_domain::MasterKey::parse(TEST_MASTER_KEY).expect("a valid key"))
}

/// The data keys of a test database, as the service builds them.
pub fn pg_data_keys(pool: &PgPool) -> std::sync::Arc<dyn pika_domain::DataKeyStore> {
    std::sync::Arc::new(pika_projections::data_keys::PostgresDataKeys::new(
        pool.clone(),
        master_key(),
    ))
}

/// The data keys of an embedded test file, as the service builds them.
pub fn sqlite_data_keys(pool: &sqlx::SqlitePool) -> pika_projections::data_keys::SqliteDataKeys {
    pika_projections::data_keys::SqliteDataKeys::new(pool.clone(), master_key())
}

/// The configuration of a test app: real servers, this test's database and prefixes, port 0.
pub fn test_settings(database: &TestDatabase, prefix: &str) -> HashMap<String, String> {
    [
        ("PIKA_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("PIKA_DATABASE_URL", database.url.clone()),
        ("PIKA_DATABASE_MAX_CONNECTIONS", "8".to_owned()),
        ("PIKA_REDIS_URL", redis_url()),
        ("PIKA_REDIS_PREFIX", prefix.to_owned()),
        ("PIKA_AMQP_URL", amqp_url()),
        ("PIKA_AMQP_QUEUE_PREFIX", prefix.to_owned()),
        ("PIKA_API_KEYS", format!("{TEST_TENANT}:{TEST_API_SECRET}")),
        ("PIKA_MASTER_KEY", TEST_MASTER_KEY.to_owned()),
        ("PIKA_LOG_FORMAT", "text".to_owned()),
        ("PIKA_MODEL_DIR", model_dir()),
        ("PIKA_ONNXRUNTIME_LIBRARY", onnxruntime_library()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Sends `request` with the test tenant's key; the JSON answer.
async fn answer_json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request
        .bearer_auth(TEST_API_SECRET)
        .send()
        .await
        .expect("the request is answered")
        .json()
        .await
        .expect("a JSON body")
}

/// The value after `--name` on an example's command line.
pub fn command_line_option(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == &format!("--{name}"))
        .and_then(|i| args.get(i + 1).cloned())
}

pub fn config_from(settings: &HashMap<String, String>) -> Config {
    Config::from_sources(None, &|name| settings.get(name).cloned()).expect("valid test config")
}

/// The real application, started on a free port against this test's database and prefixes.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub prefix: String,
    pub client: reqwest::Client,
    pub database: std::sync::Arc<TestDatabase>,
    /// The embedded mode's data directory; `None` for the scaled-out mode.
    pub data_dir: Option<std::sync::Arc<data_dir::TestDataDir>>,
    settings: HashMap<String, String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app after `adjust` changed its settings.
    pub async fn spawn_with(adjust: impl FnOnce(&mut HashMap<String, String>)) -> Self {
        let database = TestDatabase::empty().await;
        let prefix = unique_prefix();
        let mut settings = test_settings(&database, &prefix);
        adjust(&mut settings);
        Self::start(std::sync::Arc::new(database), prefix, settings).await
    }

    /// Starts the app running only `roles` (say, everything but the extraction worker).
    pub async fn spawn_roles(roles: Roles) -> Self {
        let database = TestDatabase::empty().await;
        let prefix = unique_prefix();
        let settings = test_settings(&database, &prefix);
        Self::start_with_roles(std::sync::Arc::new(database), prefix, settings, roles).await
    }

    /// A second instance on the same database, Redis prefix and queues: another process of
    /// the same deployment.
    pub async fn spawn_beside(&self) -> Self {
        Self::start(
            self.database.clone(),
            self.prefix.clone(),
            self.settings.clone(),
        )
        .await
    }

    /// The embedded mode: no database, Redis or AMQP URL, a data directory of its own. (The
    /// Postgres database every `TestApp` carries stays empty.)
    pub async fn spawn_embedded() -> Self {
        Self::spawn_embedded_with(|_| {}).await
    }

    pub async fn spawn_embedded_with(adjust: impl FnOnce(&mut HashMap<String, String>)) -> Self {
        let database = TestDatabase::empty().await;
        let prefix = unique_prefix();
        let data_dir = std::sync::Arc::new(data_dir::TestDataDir::new());
        let mut settings = test_settings(&database, &prefix);
        // The embedded mode makes its own master key file, as it does on a fresh machine.
        for name in [
            "PIKA_DATABASE_URL",
            "PIKA_REDIS_URL",
            "PIKA_AMQP_URL",
            "PIKA_MASTER_KEY",
        ] {
            settings.remove(name);
        }
        settings.insert(
            "PIKA_DATA_DIR".into(),
            data_dir.path().display().to_string(),
        );
        adjust(&mut settings);
        let mut app = Self::start(std::sync::Arc::new(database), prefix, settings).await;
        app.data_dir = Some(data_dir);
        app
    }

    async fn start(
        database: std::sync::Arc<TestDatabase>,
        prefix: String,
        settings: HashMap<String, String>,
    ) -> Self {
        // Logs go to the test's captured output; RUST_LOG chooses how much.
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init()
            .ok();
        Self::start_with_roles(database, prefix, settings, Roles::SERVE).await
    }

    /// Another process of this deployment (same database, Redis prefix and queues) running
    /// only `roles`: `Roles::API` or `Roles::WORKER`.
    pub async fn spawn_role_beside(&self, roles: Roles) -> Self {
        self.spawn_role_beside_with(roles, |_| {}).await
    }

    /// As [`TestApp::spawn_role_beside`], after `adjust` changed the settings (say, a Redis
    /// prefix of its own: a process sharing no cache with this one).
    pub async fn spawn_role_beside_with(
        &self,
        roles: Roles,
        adjust: impl FnOnce(&mut HashMap<String, String>),
    ) -> Self {
        let mut settings = self.settings.clone();
        adjust(&mut settings);
        Self::start_with_roles(self.database.clone(), self.prefix.clone(), settings, roles).await
    }

    async fn start_with_roles(
        database: std::sync::Arc<TestDatabase>,
        prefix: String,
        settings: HashMap<String, String>,
        roles: Roles,
    ) -> Self {
        let app = Application::build_with_roles(config_from(&settings), roles)
            .await
            .expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            stopped.await.ok();
        }));
        Self {
            address,
            prefix,
            client: reqwest::Client::new(),
            database,
            data_dir: None,
            settings,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// The settings this process was started with, as a maintenance command would read them.
    pub fn settings(&self) -> &HashMap<String, String> {
        &self.settings
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// GET `path` with the test tenant's key; the JSON body (a problem document on an error).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        answer_json(self.client.get(self.url(path))).await
    }

    /// POST `body` to `path` with the test tenant's key; the JSON answer (a problem document
    /// on an error).
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        answer_json(self.client.post(self.url(path)).json(body)).await
    }

    /// The Prometheus text of `/metrics` (no key needed).
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("the request is answered")
            .text()
            .await
            .expect("a text body")
    }

    /// One call with `secret` as the key, `body` sent as JSON when given: the status and the
    /// answer (JSON, or its text when it is not JSON).
    pub async fn call_as(
        &self,
        secret: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the request is answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a text body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// [`TestApp::call_as`] with the test tenant's key.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.call_as(TEST_API_SECRET, method, path, body).await
    }

    /// Submits a one-message conversation of `user` for extraction; the job's id.
    pub async fn submit_message(&self, user: &str, content: &str) -> String {
        let body = serde_json::json!({"user_id": user, "messages": [{"role": "user", "content": content}]});
        let accepted = self.post_json("/v1/extractions", &body).await;
        accepted["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("the job was accepted: {accepted}"))
            .to_owned()
    }

    /// A job's status, waiting up to `wait` seconds for it to finish.
    pub async fn job(&self, job_id: &str, wait: u32) -> serde_json::Value {
        self.get_json(&format!("/v1/jobs/{job_id}?wait={wait}"))
            .await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.send(()).ok();
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_host_and_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db/x?sslmode=disable", "t2"),
            "postgres://u:p@db/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "t3"), "postgres://db/t3");
    }
}

/// A TCP proxy between the service and a server, which a test can cut and restore to play a
/// network failure without stopping the shared server.
#[derive(Debug)]
pub struct TcpProxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    accept: JoinHandle<()>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Connections being forwarded now; a cut ends them asynchronously.
    forwarding: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TcpProxy {
    /// Starts forwarding to `upstream` (host:port); `up` says whether it forwards at first.
    pub async fn start(upstream: &str, up: bool) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(up));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let upstream = upstream.to_owned();
        let accepting = flag.clone();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = accepted.clone();
        let forwarding = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let live = forwarding.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                if !accepting.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let live = live.clone();
                live.fetch_add(1, Ordering::SeqCst);
                let mut cuts = cuts.clone();
                // Only cuts after this connection was accepted end it.
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cuts.changed() => {}
                        }
                    }
                    drop(inbound);
                    live.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            up: flag,
            cut,
            accept,
            accepted,
            forwarding,
        }
    }

    /// Cuts, then waits (at most 5 s) until every forwarded connection is closed: `cut` only
    /// signals the forwarding tasks, so a request sent right after it may still get through.
    pub async fn cut_and_settle(&self) {
        self.cut();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.forwarding.load(std::sync::atomic::Ordering::SeqCst) > 0
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Connections the proxy accepted so far, forwarded or refused: how often a client tried.
    pub fn connections_accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops forwarding: open connections are dropped and new ones refused.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `amqp://guest:guest@127.0.0.1:5672/%2f` → `127.0.0.1:5672`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

/// `url` with its host:port replaced by 127.0.0.1:`port`.
pub fn through_port(url: &str, port: u16) -> String {
    url.replacen(&host_port(url), &format!("127.0.0.1:{port}"), 1)
}
