//! `spawn_app()` and friends.

use std::sync::OnceLock;

use api::{config::ApiConfig, startup::Application};
use common::{
    config::{Env, LogFormat, Secret},
    telemetry::LogGuard,
};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;

pub use common::testing::{
    PrivateRedis, create_database, eventually, free_port, migrated_database, nats_url, redis_url,
    unique_queue,
};
use uuid::Uuid;

/// Held for the life of the test process: dropping it would stop logging.
static TRACING: OnceLock<Option<LogGuard>> = OnceLock::new();

/// Logs stay quiet unless `TEST_LOG` is set.
fn init_tracing() {
    TRACING.get_or_init(|| {
        std::env::var_os("TEST_LOG")
            .map(|_| common::telemetry::init(LogFormat::Pretty, &Default::default()))
    });
}

pub struct TestApp {
    pub address: String,
    pub metrics_address: String,
    pub db: PgPool,
    pub check_queue: String,
    pub redis_url: String,
    /// A client without a cookie store, for unauthenticated requests.
    pub api_client: reqwest::Client,
    pub database_url: String,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
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
    config.check_queue = unique_queue();
    customize(&mut config);

    let check_queue = config.check_queue.clone();
    let database_url_for_test = config.common.database.url.expose().to_owned();
    let redis_url = config.common.redis_url.expose().to_owned();
    let app = Application::build(config).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
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
        database_url: database_url_for_test,
        stop: Some(stop),
        server,
    }
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// Stops the server the way SIGTERM would and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.await.expect("server task")
    }

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
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event or comment; `None` when the stream ended.
    pub async fn next_any(&mut self, within: std::time::Duration) -> Option<SseEvent> {
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
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}"))?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
        }
    }

    /// The next event called `name`, skipping others: NATS delivers
    /// asynchronously, so an event of an earlier change may still arrive.
    pub async fn next_named(&mut self, name: &str, within: std::time::Duration) -> SseEvent {
        loop {
            let event = self.next_event(within).await;
            if event.name == name {
                return event;
            }
        }
    }

    /// The next real event, skipping keep-alives.
    pub async fn next_event(&mut self, within: std::time::Duration) -> SseEvent {
        loop {
            let event = self.next_any(within).await.expect("the stream ended");
            if !event.comment {
                return event;
            }
        }
    }
}
