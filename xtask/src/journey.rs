//! What a user does through the web front, the same way in every harness
//! that runs a whole deployment (`cargo xtask fly-net`, `cargo xtask
//! compose-smoke`): the skeleton's contract first, then each area's own
//! scenario, registered in [`areas`] one line each.
//!
//! The skeleton's contract: the web front and the api are healthy and ready;
//! a user signs up and gets a bearer token; the live stream opens with the
//! account; the welcome job makes its round trip (api → Redis → worker →
//! Postgres → NATS → the stream); and ending every session from a second
//! session ends the first one's stream with `session_ended`, over NATS.
//! Bearer tokens, not cookies: a production session cookie is Secure, and a
//! harness speaks plain HTTP.

use std::time::Duration;

use anyhow::{Context, bail};
use platform::testing::SseStream;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// Every wait for the stack: a worker's first poll, a cold machine.
const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "a long and good passphrase";

/// Someone on the user's side of the web front.
pub struct Visitor {
    client: Client,
    web: String,
}

/// A signed-in user: their email, and a bearer token of a live session.
pub struct SignedIn {
    pub email: String,
    pub token: String,
}

impl Visitor {
    /// `client` carries what the harness's network adds (Fly's edge headers,
    /// say); `web` is the web front's base URL.
    pub fn new(client: Client, web: &str) -> Self {
        Self {
            client,
            web: web.trim_end_matches('/').to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.web)
    }

    /// POSTs `body` as JSON, with `token` when given; fails unless the
    /// answer is `want`, and returns its JSON (null for no body).
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        want: StatusCode,
    ) -> anyhow::Result<Value> {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        expect(response, &format!("POST {path}"), want).await
    }

    /// GETs `path`, with `token` when given; fails unless the answer is `want`.
    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
        want: StatusCode,
    ) -> anyhow::Result<Value> {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        expect(response, &format!("GET {path}"), want).await
    }

    /// Opens the live stream with `token`; its first event must be the snapshot.
    pub async fn open_stream(&self, token: &str) -> anyhow::Result<(SseStream, Value)> {
        let request = self.client.get(self.url("/api/events")).bearer_auth(token);
        let response = request.send().await.context("GET /api/events")?;
        if response.status() != StatusCode::OK {
            bail!("GET /api/events answered {}", response.status());
        }
        let mut stream = SseStream::from_response(response);
        let first = match stream.try_next_any(WAIT).await? {
            Some(event) if event.name == "snapshot" => event,
            Some(event) => bail!(
                "the stream opened with {} instead of a snapshot",
                event.name
            ),
            None => bail!("the stream ended before its snapshot"),
        };
        Ok((stream, serde_json::from_str(&first.data)?))
    }

    async fn token(&self, email: &str) -> anyhow::Result<String> {
        let body = self
            .post(
                "/api/auth/token",
                None,
                &json!({"email": email, "password": PASSWORD}),
                StatusCode::OK,
            )
            .await?;
        Ok(body["token"]
            .as_str()
            .context("no token in the answer")?
            .to_owned())
    }

    /// The skeleton's contract (see the module's comment); each thing
    /// proved is told to `proved`. Returns a user with a live session, for
    /// the areas' scenarios.
    pub async fn skeleton(&self, proved: &dyn Fn(&str)) -> anyhow::Result<SignedIn> {
        self.get("/health", None, StatusCode::OK).await?;
        self.get("/api/ready", None, StatusCode::OK).await?;
        proved("the web front answers /health, and the api /api/ready through it");

        let email = format!("journey-{:08x}@example.com", rand::random::<u32>());
        let credentials = json!({"email": email, "password": PASSWORD});
        self.post("/api/auth/signup", None, &credentials, StatusCode::ACCEPTED)
            .await?;
        let first = self.token(&email).await?;
        let (mut stream, snapshot) = self.open_stream(&first).await?;
        if snapshot["account"]["email"] != email.as_str() {
            bail!("the snapshot's account is not the user's: {snapshot}");
        }
        proved("sign-up, a bearer token, and the live stream's snapshot of the account");

        if snapshot["account"]["welcomed_at"].is_string() {
            proved("the welcome job ran (before the stream opened: the snapshot has it)");
        } else {
            loop {
                let event = stream.try_next_named("account", WAIT).await?;
                let account: Value = serde_json::from_str(&event.data)?;
                if account["welcomed_at"].is_string() {
                    break;
                }
            }
            proved(
                "the welcome job's round trip: queued, run by the worker, and its `account` event on the stream",
            );
        }
        let me = self
            .get("/api/auth/me", Some(&first), StatusCode::OK)
            .await?;
        if !me["user"]["welcomed_at"].is_string() {
            bail!("the account is not welcomed in Postgres: {me}");
        }

        let second = self.token(&email).await?;
        self.post(
            "/api/auth/logout-everywhere",
            Some(&second),
            &json!({}),
            StatusCode::NO_CONTENT,
        )
        .await?;
        stream.try_next_named("session_ended", WAIT).await?;
        self.get("/api/auth/me", Some(&first), StatusCode::UNAUTHORIZED)
            .await?;
        proved(
            "ending every session from another one ends the first one's stream (session_ended over NATS), and its token",
        );

        let token = self.token(&email).await?;
        Ok(SignedIn { email, token })
    }
}

/// Fails unless `response` is `want`; its JSON (null for an empty body).
async fn expect(
    response: reqwest::Response,
    what: &str,
    want: StatusCode,
) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status != want {
        bail!("{what} answered {status}, not {want}: {text}");
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: the answer is not JSON"))
}

/// Each area's scenario after the skeleton's, one line each. `inside` are
/// URLs inside the deployment (its private addresses) that anything making
/// requests to user-supplied URLs must refuse. What each proved is told to
/// `proved`.
pub async fn areas(
    visitor: &Visitor,
    user: &SignedIn,
    inside: &[String],
    proved: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let _ = (visitor, user, inside, proved);
    uptime::testing::journey(&visitor.client, &visitor.web, &user.token, inside, proved).await?; // example
    Ok(())
}
