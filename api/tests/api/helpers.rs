//! `spawn_app()` and friends.

use std::{
    net::TcpListener as StdListener,
    process::{Child, Command, Stdio},
    sync::Once,
    time::Duration,
};

use api::{config::ApiConfig, startup::Application};
use common::config::{Env, LogFormat, Secret};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The server that test databases are created on; trust auth on this machine.
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

static TRACING: Once = Once::new();

/// Logs stay quiet unless `TEST_LOG` is set.
fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            common::telemetry::init(LogFormat::Pretty, &Default::default());
        }
    });
}

/// A new, empty database named `beacon_test_<uuid>`; its URL.
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

/// A new database with every migration applied.
pub async fn migrated_database() -> (String, PgPool) {
    let url = create_database().await;
    let pool = PgPool::connect(&url)
        .await
        .expect("connect to test database");
    common::db::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate test database");
    (url, pool)
}

pub struct TestApp {
    pub address: String,
    pub metrics_address: String,
    pub db: PgPool,
    pub check_queue: String,
    pub redis_url: String,
    /// A client without a cookie store, for unauthenticated requests.
    pub api_client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like `spawn_app`, with a chance to change the configuration first.
pub async fn spawn_app_with(customize: impl FnOnce(&mut ApiConfig)) -> TestApp {
    init_tracing();
    let (database_url, db) = migrated_database().await;
    let mut config = ApiConfig::from_env(&Env::from_pairs(&[("PORT", "0"), ("METRICS_PORT", "0")]))
        .expect("test config");
    config.common.database.url = Secret::new(database_url);
    config.common.redis_url = Secret::new(redis_url());
    config.common.nats_url = Secret::new(nats_url());
    config.check_queue = format!("beacon:test:{}:checks", Uuid::new_v4().simple());
    customize(&mut config);

    let check_queue = config.check_queue.clone();
    let redis_url = config.common.redis_url.expose().to_owned();
    let app = Application::build(config).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        metrics_address,
        db,
        check_queue,
        redis_url,
        api_client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        _stop: stop,
    }
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.api_client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.api_client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_signup(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/signup",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn post_login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// A signed-up user with a cookie-carrying client of their own.
    pub async fn new_user(&self) -> TestUser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        let email = unique_email();
        let response = client
            .post(self.url("/api/auth/signup"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("signup");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        TestUser {
            id: body["user"]["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid"),
            email,
            client,
            address: self.address.clone(),
        }
    }
}

pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub client: reqwest::Client,
    address: String,
}

impl TestUser {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// DELETE and bodiless POSTs still declare JSON (the CSRF rule).
    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .header("content-type", "application/json")
            .send()
            .await
            .expect("request")
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .send()
            .await
            .expect("request")
    }

    /// Creates a monitor with defaults for everything but the URL; its id.
    pub async fn create_monitor(&self, url: &str) -> Uuid {
        let response = self
            .post("/api/monitors", &json!({"name": "Example", "url": url}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").parse().expect("uuid")
    }
}

/// Asserts the status and the error shape; the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
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

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `redis-server` of the test's own, for tests that stop Redis.
pub struct PrivateRedis {
    pub url: String,
    child: Child,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        // Owned at once, so a failed start below still kills it on drop.
        let server = Self {
            url: format!("redis://127.0.0.1:{port}"),
            child,
        };
        let client = redis::Client::open(server.url.as_str()).expect("url");
        for _ in 0..100 {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis-server did not start");
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {within:?} waiting for {what}");
}
