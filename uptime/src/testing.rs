//! The example's scenario in the harnesses that run a whole deployment
//! (`xtask/src/journey.rs` registers it): through the web front, monitors
//! of addresses inside the deployment get checks that arrive on the live
//! stream refused, so the outbound guard holds where the services talk
//! over those very addresses (feature `test-helpers`).

use std::time::Duration;

use anyhow::{Context, bail};
use platform::testing::SseStream;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// The worker's first pass over a new monitor, on a cold machine.
const WAIT: Duration = Duration::from_secs(60);

/// For each URL of `inside`, a monitor of it whose first check must arrive
/// on `/api/events` refused; each refusal is told to `proved`.
pub async fn journey(
    client: &Client,
    web: &str,
    token: &str,
    inside: &[String],
    proved: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let response = client
        .get(format!("{web}/api/events"))
        .bearer_auth(token)
        .send()
        .await
        .context("GET /api/events")?;
    if response.status() != StatusCode::OK {
        bail!("GET /api/events answered {}", response.status());
    }
    let mut stream = SseStream::from_response(response);
    stream.try_next_named("snapshot", WAIT).await?;
    for target in inside {
        let created = client
            .post(format!("{web}/api/monitors"))
            .bearer_auth(token)
            .json(&json!({"name": "inside the deployment", "url": target}))
            .send()
            .await
            .context("POST /api/monitors")?;
        if created.status() != StatusCode::CREATED {
            let status = created.status();
            bail!(
                "adding a monitor of {target} answered {status}: {}",
                created.text().await?
            );
        }
        let monitor: Value = created.json().await?;
        let check = loop {
            let event = stream.try_next_named("check", WAIT).await?;
            let check: Value = serde_json::from_str(&event.data)?;
            if check["monitor_id"] == monitor["id"] {
                break check;
            }
        };
        let error = check["error"].as_str().unwrap_or_default();
        if check["ok"] != false || !error.contains("refused") {
            bail!("the worker checked {target} instead of refusing it: {check}");
        }
        proved(&format!(
            "a monitor of {target}: its check, recorded and streamed, was refused ({error})"
        ));
    }
    Ok(())
}
