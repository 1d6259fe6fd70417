//! The user: HTTP from the client namespace, which is linked to the web
//! machine only. Each call runs on a thread of its own that has entered the
//! namespace (a network namespace is per thread), with a runtime of its own.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use anyhow::{Context, bail};
use nix::sched::{CloneFlags, setns};
use platform::testing::SseStream;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::net::{CLIENT_PUBLIC, WEB_PUBLIC};

const WAIT: Duration = Duration::from_secs(30);

/// Runs `work` inside `namespace` and returns what it returned (a panic in
/// it becomes an error).
async fn within<T, F, Fut>(namespace: &str, work: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    let path = PathBuf::from("/var/run/netns").join(namespace);
    let thread = std::thread::spawn(move || -> anyhow::Result<T> {
        let file = std::fs::File::open(&path).with_context(|| format!("{}", path.display()))?;
        setns(&file, CloneFlags::CLONE_NEWNET).context("entering the client's namespace")?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(work())
    });
    tokio::task::spawn_blocking(move || thread.join())
        .await?
        .map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            anyhow::anyhow!("the client failed: {message}")
        })?
}

/// What Fly's edge adds to every request: the client's address, which
/// nginx passes on (`NGINX_CLIENT_IP` in fly/fly.frontend.toml).
fn http(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    headers.insert("fly-client-ip", HeaderValue::from_static(CLIENT_PUBLIC));
    if let Some(token) = token {
        headers.insert(AUTHORIZATION, format!("Bearer {token}").parse()?);
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .timeout(WAIT)
        .build()?)
}

fn url(path: &str) -> String {
    format!("http://{WEB_PUBLIC}:8080{path}")
}

#[derive(Clone)]
pub struct User {
    namespace: String,
    token: Arc<Mutex<Option<String>>>,
}

impl User {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            token: Arc::default(),
        }
    }

    /// The status of GET `path` through the web machine, if it answered.
    pub async fn status(&self, path: &'static str) -> Option<u16> {
        within(&self.namespace, move || async move {
            let response = http(None)?.get(url(path)).send().await?;
            Ok(response.status().as_u16())
        })
        .await
        .ok()
    }

    /// Whether a TCP connection to `address` succeeds from the user's side.
    pub async fn reaches(&self, address: std::net::SocketAddr) -> bool {
        within(&self.namespace, move || async move {
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(address),
            )
            .await;
            Ok(matches!(attempt, Ok(Ok(_))))
        })
        .await
        .unwrap_or(false)
    }

    /// Signs up and in (a bearer token: session cookies are Secure in
    /// production, and this is plain HTTP), and opens `/api/events`, whose
    /// first event must be the snapshot.
    pub async fn sign_up(&self) -> anyhow::Result<()> {
        let token = within(&self.namespace, || async {
            let client = http(None)?;
            let credentials =
                json!({"email": "ada@example.com", "password": "a long and good passphrase"});
            let signup = client
                .post(url("/api/auth/signup"))
                .json(&credentials)
                .send()
                .await?;
            if signup.status() != 202 {
                bail!(
                    "sign-up answered {}: {}",
                    signup.status(),
                    signup.text().await?
                );
            }
            let token = client
                .post(url("/api/auth/token"))
                .json(&credentials)
                .send()
                .await?;
            if token.status() != 200 {
                bail!("token answered {}: {}", token.status(), token.text().await?);
            }
            let body: Value = token.json().await?;
            let token = body["token"].as_str().context("a token")?.to_owned();
            let mut stream = SseStream::open(&http(Some(&token))?, &url("/api/events")).await;
            let first = stream.next_event(WAIT).await;
            if first.name != "snapshot" {
                bail!(
                    "the stream opened with {} instead of a snapshot",
                    first.name
                );
            }
            Ok(token)
        })
        .await?;
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = Some(token);
        Ok(())
    }

    /// Whether the api documents `path` (its OpenAPI, through nginx).
    pub async fn api_has(&self, path: &'static str) -> anyhow::Result<bool> {
        within(&self.namespace, move || async move {
            let spec: Value = http(None)?
                .get(url("/api/openapi.json"))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok(spec["paths"].get(path).is_some())
        })
        .await
    }

    /// Opens /api/events, adds a monitor of `target` and returns the first
    /// check of it that arrives on the stream.
    pub async fn watch_a_check(&self, target: String) -> anyhow::Result<Value> {
        let token = self
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .context("sign up first")?;
        within(&self.namespace, move || async move {
            let client = http(Some(&token))?;
            let mut stream = SseStream::open(&client, &url("/api/events")).await;
            let snapshot = stream.next_event(WAIT).await;
            if snapshot.name != "snapshot" {
                bail!(
                    "the stream opened with {} instead of a snapshot",
                    snapshot.name
                );
            }
            let created = client
                .post(url("/api/monitors"))
                .json(&json!({"name": "on the private network", "url": target}))
                .send()
                .await?;
            if created.status() != 201 {
                bail!(
                    "adding a monitor answered {}: {}",
                    created.status(),
                    created.text().await?
                );
            }
            let monitor: Value = created.json().await?;
            loop {
                let check = stream.next_named("check", WAIT).await.json();
                if check["monitor_id"] == monitor["id"] {
                    return Ok(check);
                }
            }
        })
        .await
    }
}
