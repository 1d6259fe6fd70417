//! The user: HTTP from the client namespace, which is linked to the web
//! machine only. Each call runs on a thread of its own that has entered the
//! namespace (a network namespace is per thread), with a runtime of its own.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use nix::sched::{CloneFlags, setns};
use reqwest::header::{HeaderMap, HeaderValue};

use super::net::{CLIENT_PUBLIC, WEB_PUBLIC};
use crate::journey::{self, Visitor};

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
fn http() -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    headers.insert("fly-client-ip", HeaderValue::from_static(CLIENT_PUBLIC));
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
}

impl User {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
        }
    }

    /// The status of GET `path` through the web machine, if it answered.
    pub async fn status(&self, path: &'static str) -> Option<u16> {
        within(&self.namespace, move || async move {
            let response = http()?.get(url(path)).send().await?;
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

    /// The journey every deployment harness takes ([`crate::journey`]):
    /// the skeleton's contract, then each area's scenario, with `inside`
    /// the private URLs user-supplied requests must be refused.
    pub async fn journey(&self, inside: Vec<String>) -> anyhow::Result<()> {
        within(&self.namespace, move || async move {
            let visitor = Visitor::new(http()?, &url(""));
            let proved = |what: &str| println!("  proved: {what}");
            let user = visitor.skeleton(&proved).await?;
            journey::areas(&visitor, &user, &inside, &proved).await
        })
        .await
    }
}
