//! `spawn_app()`: the real api on port 0 with a database of its own, and
//! clients that sign up and call it (feature `test-helpers`).

use platform::{
    config::Env,
    http::CLIENT_IP_HEADER,
    testing::{TestDatabase, init_tracing, test_env},
};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

use platform::service::Service;

use crate::{routes::migrator, server::ApiServer};

pub struct TestApp {
    pub address: String,
    pub metrics_address: String,
    /// The test's own database, dropped with the app (a peer has none).
    pub database: Option<TestDatabase>,
    /// A pool on that database, for looking behind the API.
    pub db: PgPool,
    /// Its URL.
    pub database_url: String,
    /// The variables the app was started with.
    pub env: Env,
    /// A client without a cookie store, for unauthenticated requests.
    pub api_client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Like `spawn_app`, with some variables set (`("LOGIN_MAX_FAILURES", "3")`).
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let database = TestDatabase::migrated(&migrator()).await;
    let env = database.env(test_env());
    let db = database.pool.clone();
    start(env, vars, db, Some(database)).await
}

/// Another api on `first`'s database, Redis queues and NATS: a second
/// machine of the same deployment.
pub async fn spawn_peer(first: &TestApp, vars: &[(&str, &str)]) -> TestApp {
    start(first.env.clone(), vars, first.db.clone(), None).await
}

async fn start(
    mut env: Env,
    vars: &[(&str, &str)],
    db: PgPool,
    database: Option<TestDatabase>,
) -> TestApp {
    init_tracing();
    for (name, value) in vars {
        env = env.with(name, *value);
    }
    let app = ApiServer::build(env.clone()).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        metrics_address,
        database_url: env.get("DATABASE_URL").unwrap_or_default(),
        db,
        database,
        env,
        api_client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        stop: Some(stop),
        server,
    }
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "correct horse battery";

/// A client address nobody else in the run has (in 10.0.0.0/8, which no
/// test client really comes from).
pub fn unique_client_address() -> String {
    let [a, b, c, ..] = *Uuid::new_v4().as_bytes();
    format!("10.{a}.{b}.{c}")
}

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
        let credentials = json!({"email": email, "password": PASSWORD});
        // Each user signs up from an address of their own, as nginx would
        // report it, so a test's users do not share the per-address limits.
        let address = unique_client_address();
        let response = client
            .post(self.url("/api/auth/signup"))
            .header(CLIENT_IP_HEADER, &address)
            .json(&credentials)
            .send()
            .await
            .expect("signup");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let response = client
            .post(self.url("/api/auth/login"))
            .header(CLIENT_IP_HEADER, &address)
            .json(&credentials)
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK);
        let session_cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let body: Value = response.json().await.expect("json");
        TestUser {
            session_cookie,
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
    /// `name=token`, as a `Cookie` header carries it.
    session_cookie: String,
    pub id: Uuid,
    pub email: String,
    /// Carries the session cookie.
    pub client: reqwest::Client,
    pub address: String,
}

impl TestUser {
    /// The session cookie as a `Cookie` header value, for another client.
    pub fn cookie(&self) -> String {
        self.session_cookie.clone()
    }

    pub fn url(&self, path: &str) -> String {
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
}
