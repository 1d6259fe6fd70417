//! One HTTP probe: the monitor's method against its URL, within its timeout,
//! following a bounded number of redirects (each hop vetted by
//! [`platform::outbound`]) and reading at most a small part of the body.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use platform::outbound::{TargetPolicy, describe_error, guarded_client};
use reqwest::{Method, StatusCode, header};

use crate::model::HttpMethod;

/// Enough to see that a body arrives; a monitor is not a downloader.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub status_code: Option<u16>,
    pub latency: Duration,
    /// Why there is no usable response, in words a user can act on.
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct Prober {
    client: reqwest::Client,
    policy: Arc<TargetPolicy>,
    max_redirects: usize,
}

impl Prober {
    pub fn new(policy: TargetPolicy, max_redirects: usize) -> anyhow::Result<Self> {
        let policy = Arc::new(policy);
        let client = guarded_client(
            &policy,
            concat!("Beacon/", env!("CARGO_PKG_VERSION"), " (uptime monitor)"),
        )?;
        Ok(Self {
            client,
            policy,
            max_redirects,
        })
    }

    /// Never fails: every outcome, including refusal, is a result to record.
    pub async fn probe(
        &self,
        method: HttpMethod,
        url: &str,
        expected_status: u16,
        timeout: Duration,
    ) -> ProbeResult {
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(timeout, self.follow(method, url, expected_status)).await;
        let latency = started.elapsed();
        match outcome {
            Ok(Ok(status)) => ProbeResult {
                status_code: Some(status.as_u16()),
                latency,
                error: None,
            },
            Ok(Err(error)) => ProbeResult {
                status_code: None,
                latency,
                error: Some(error),
            },
            Err(_) => ProbeResult {
                status_code: None,
                latency,
                error: Some(format!("timed out after {} ms", timeout.as_millis())),
            },
        }
    }

    async fn follow(
        &self,
        method: HttpMethod,
        url: &str,
        expected_status: u16,
    ) -> Result<StatusCode, String> {
        let mut method = match method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Head => Method::HEAD,
            HttpMethod::Post => Method::POST,
        };
        let mut url = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        for hop in 0..=self.max_redirects {
            self.policy
                .check_literal_host(&url)
                .map_err(|e| e.to_string())?;
            let response = self
                .client
                .request(method.clone(), url.clone())
                .send()
                .await
                .map_err(|e| describe_error(&e))?;
            let status = response.status();
            let location = response.headers().get(header::LOCATION).cloned();
            if status.is_redirection() && status.as_u16() != expected_status {
                let Some(location) = location else {
                    return Ok(status);
                };
                if hop == self.max_redirects {
                    return Err(format!("more than {} redirects", self.max_redirects));
                }
                let location = location
                    .to_str()
                    .map_err(|_| "redirect with an unreadable Location".to_owned())?;
                url = url
                    .join(location)
                    .map_err(|e| format!("redirect to an invalid URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(format!("redirect to a {} URL", url.scheme()));
                }
                // As browsers do: 303, and 301/302 after a POST, continue as GET.
                if status == StatusCode::SEE_OTHER
                    || (method == Method::POST
                        && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND))
                {
                    method = Method::GET;
                }
                continue;
            }
            drain(response).await;
            return Ok(status);
        }
        Err(format!("more than {} redirects", self.max_redirects))
    }
}

/// Reads up to [`BODY_LIMIT_BYTES`] so the latency includes the body starting
/// to arrive, then drops the rest.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while read < BODY_LIMIT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
}
