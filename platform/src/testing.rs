//! Helpers for the integration tests of every crate (feature
//! `test-helpers`). Tests run against the machine's real Postgres, Redis and
//! NATS; each gets a database of its own, dropped when the test ends, and a
//! queue prefix of its own. A test that must stop a server starts a private
//! one.

use std::{
    net::TcpListener as StdListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection, PgPool, migrate::Migrator};
use uuid::Uuid;

use crate::{
    app::App,
    config::{Env, PlatformConfig},
};

mod nats;
pub use nats::NatsCluster;

/// The server test databases are created on (trust auth on these machines).
pub fn postgres_base_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Held for the life of the test process: dropping it would stop logging.
static TRACING: std::sync::OnceLock<Option<crate::telemetry::LogGuard>> =
    std::sync::OnceLock::new();

/// Logs stay quiet unless `TEST_LOG` is set (then `RUST_LOG` filters them).
pub fn init_tracing() {
    TRACING.get_or_init(|| {
        std::env::var_os("TEST_LOG").map(|_| {
            let filter = std::env::var("RUST_LOG")
                .unwrap_or_else(|_| crate::config::DEFAULT_LOG_FILTER.to_owned());
            crate::telemetry::init_with(
                crate::config::LogFormat::Pretty,
                &filter,
                &Default::default(),
            )
        })
    });
}

/// A queue prefix no other test uses.
pub fn unique_queue_prefix() -> String {
    format!("beacon:test:{}", Uuid::new_v4().simple())
}

/// The variables a test process starts from: the machine's servers, a queue
/// prefix of its own, free ports, quiet logs. Add the test's database with
/// [`TestDatabase::env`].
pub fn test_env() -> Env {
    Env::from_pairs(&[("PORT", "0"), ("METRICS_PORT", "0"), ("WORKER_PORT", "0")])
        .with("REDIS_URL", redis_url())
        .with("NATS_URL", nats_url())
        .with("QUEUE_PREFIX", unique_queue_prefix())
}

/// A database of the test's own, `beacon_test_<uuid>`, with a pool on it.
/// Dropping it drops the database (and ends its connections): tests clean
/// up after themselves, even when they fail.
pub struct TestDatabase {
    pub url: String,
    pub pool: PgPool,
    name: String,
}

impl TestDatabase {
    /// An empty database.
    pub async fn empty() -> Self {
        let name = format!("beacon_test_{}", Uuid::new_v4().simple());
        let mut admin = admin_connection().await;
        admin
            .execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .expect("create test database");
        let url = format!("{}/{name}", postgres_base_url());
        let pool = PgPool::connect(&url)
            .await
            .expect("connect to test database");
        Self { url, pool, name }
    }

    /// A database with `migrator` applied.
    pub async fn migrated(migrator: &Migrator) -> Self {
        let database = Self::empty().await;
        migrator
            .run(&database.pool)
            .await
            .expect("migrate test database");
        database
    }

    /// `env` pointed at this database.
    pub fn env(&self, env: Env) -> Env {
        env.with("DATABASE_URL", self.url.clone())
    }
}

async fn admin_connection() -> PgConnection {
    PgConnection::connect(&format!("{}/postgres", postgres_base_url()))
        .await
        .expect("Postgres is reachable on 127.0.0.1:5432")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be shutting down:
        // a thread of its own with a runtime of its own does the work.
        let name = std::mem::take(&mut self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = admin_connection().await;
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    )))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

/// The app a process of `env` opens, with NATS connected (it connects in
/// the background, and a wake-up or event published before then would wait
/// in its buffer).
pub async fn connect_app(env: &Env) -> App {
    let config = PlatformConfig::from_env(env).expect("config");
    let app = App::connect(env.clone(), config, "test")
        .await
        .expect("connect");
    eventually(Duration::from_secs(10), "NATS connected", || async {
        app.nats.connection_state() == async_nats::connection::State::Connected
    })
    .await;
    app
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `redis-server` of the test's own, for tests that stop or restart Redis.
/// It keeps an append-only file in a temporary folder, so a restart keeps
/// the queue, as a managed Redis does.
pub struct PrivateRedis {
    pub url: String,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("beacon-redis-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut redis = Self {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            dir,
            child: None,
        };
        redis.restart().await;
        redis
    }

    /// Starts the server again on the same port with the same data.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let client = redis::Client::open(self.url.as_str()).expect("url");
        for _ in 0..100 {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis-server did not start");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `future` on a multi-threaded runtime made now, for plain `#[test]`s
/// that set up something its threads must inherit first (a
/// [`NatsCluster`]'s names).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
        .block_on(future)
}

/// Polls until `check` holds, or fails the test after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {within:?} waiting for {what}");
}

/// Asserts the status and the error shape; the body.
pub async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "error is not JSON: {content_type}"
    );
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error has a message: {body}"
    );
    body
}

/// Every string in `value` that looks like a timestamp, with its path.
pub fn timestamps(value: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, path: String, found: &mut Vec<(String, String)>) {
        match value {
            Value::String(s)
                if s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' =>
            {
                found.push((path, s.clone()));
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}[{i}]"), found);
                }
            }
            Value::Object(fields) => {
                for (key, item) in fields {
                    walk(item, format!("{path}.{key}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(value, String::new(), &mut found);
    found
}

/// Asserts every timestamp in `value` has the one format the API uses.
pub fn assert_timestamps_are_micros(value: &Value) {
    for (path, at) in timestamps(value) {
        let ok = at.len() == 27
            && at.ends_with('Z')
            && at.as_bytes()[19] == b'.'
            && at[20..26].bytes().all(|b| b.is_ascii_digit());
        assert!(ok, "{path} = {at} is not RFC 3339 with microseconds");
    }
}

/// One Server-Sent Event, or a comment (a keep-alive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
    pub comment: bool,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {}", self.name, self.data))
    }
}

/// A minimal EventSource: reads an SSE response event by event.
pub struct SseStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseStream {
    pub async fn open(client: &reqwest::Client, url: &str) -> Self {
        let response = client.get(url).send().await.expect("events request");
        assert_eq!(response.status(), StatusCode::OK, "events stream refused");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self::from_response(response)
    }

    /// `GET {base_url}/api/events` with a bearer token, returned once its
    /// snapshot arrived: from then on the stream is subscribed, and every
    /// event published for the user reaches it.
    pub async fn subscribed(
        client: &reqwest::Client,
        base_url: &str,
        token: &str,
        within: Duration,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let response = client
            .get(format!("{base_url}/api/events"))
            .bearer_auth(token)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("GET /api/events")?;
        let mut stream = Self::from_response(response);
        stream.try_next_named("snapshot", within).await?;
        Ok(stream)
    }

    /// Reads an event stream the caller requested (and checked) itself.
    pub fn from_response(response: reqwest::Response) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event or comment; `Ok(None)` when the stream ended, an
    /// error when nothing came within `within` or the connection broke.
    pub async fn try_next_any(&mut self, within: Duration) -> anyhow::Result<Option<SseEvent>> {
        use futures::StreamExt;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    name: "message".into(),
                    data: String::new(),
                    comment: false,
                };
                let mut data_lines = Vec::new();
                for line in block.lines() {
                    if line.starts_with(':') {
                        event.comment = true;
                    } else if let Some(name) = line.strip_prefix("event:") {
                        event.name = name.trim().to_owned();
                    } else if let Some(data) = line.strip_prefix("data:") {
                        data_lines.push(data.strip_prefix(' ').unwrap_or(data).to_owned());
                    }
                }
                event.data = data_lines.join("\n");
                return Ok(Some(event));
            }
            let Ok(chunk) = tokio::time::timeout_at(deadline, self.body.next()).await else {
                anyhow::bail!("no event within {within:?}");
            };
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            self.buffer.push_str(&String::from_utf8_lossy(&chunk?));
        }
    }

    /// The next event called `name`, skipping others and keep-alives; an
    /// error when the stream ends or `within` passes between two events.
    pub async fn try_next_named(
        &mut self,
        name: &str,
        within: Duration,
    ) -> anyhow::Result<SseEvent> {
        loop {
            match self.try_next_any(within).await {
                Ok(Some(event)) if !event.comment && event.name == name => return Ok(event),
                Ok(Some(_)) => {}
                Ok(None) => anyhow::bail!("the stream ended before a `{name}` event"),
                Err(e) => return Err(e.context(format!("waiting for a `{name}` event"))),
            }
        }
    }

    /// The next event or comment; `None` when the stream ended.
    pub async fn next_any(&mut self, within: Duration) -> Option<SseEvent> {
        self.try_next_any(within)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The next event called `name`, skipping others: NATS delivers
    /// asynchronously, so an event of an earlier change may still arrive.
    pub async fn next_named(&mut self, name: &str, within: Duration) -> SseEvent {
        self.try_next_named(name, within)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The next real event, skipping keep-alives.
    pub async fn next_event(&mut self, within: Duration) -> SseEvent {
        loop {
            let event = self.next_any(within).await.expect("the stream ended");
            if !event.comment {
                return event;
            }
        }
    }
}
