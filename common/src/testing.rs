//! Helpers for the integration tests of the api and the worker (feature
//! `test-helpers`). Tests run against the machine's real Postgres, Redis and
//! NATS; a test that must stop one starts a private server of its own.

use std::{
    net::TcpListener as StdListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

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

/// A queue name no other test uses.
pub fn unique_queue() -> String {
    format!("beacon:test:{}:checks", Uuid::new_v4().simple())
}

/// A new, empty database named `beacon_test_<uuid>`; its URL.
/// `scripts/test.sh` drops them after the run.
pub async fn create_database() -> String {
    let name = format!("beacon_test_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&format!("{}/postgres", postgres_base_url()))
        .await
        .expect("Postgres is reachable on 127.0.0.1:5432");
    admin
        .execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .expect("create test database");
    format!("{}/{name}", postgres_base_url())
}

/// A new database with every migration applied: its URL and a pool.
pub async fn migrated_database() -> (String, PgPool) {
    let url = create_database().await;
    let pool = PgPool::connect(&url)
        .await
        .expect("connect to test database");
    crate::db::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate test database");
    (url, pool)
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
