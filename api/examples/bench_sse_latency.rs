//! Check now → live dashboard, as `cargo xtask bench` measures it: one
//! client holds `GET /api/events` open, then, one sample at a time, sends
//! `POST /api/monitors/{id}/check` and waits for the `check` event that
//! carries the returned check id. A sample is the time from sending the POST
//! to that event arriving, so it covers the api, Redis, the worker's pick-up,
//! the probe, recording in Postgres, NATS and the SSE hop back.
//!
//! Prints one JSON object on stdout: `{"latencies_ms": [...]}`, in sample
//! order; the bench (xtask/src/bench/report.rs) computes the percentiles.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::mpsc;

#[derive(Parser)]
struct Args {
    /// The api, e.g. http://127.0.0.1:8080
    #[arg(long)]
    base_url: String,
    /// A bearer token from `POST /api/auth/token`.
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    token: String,
    /// A monitor of the token's user; its URL should answer quickly.
    #[arg(long)]
    monitor_id: String,
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Pause between samples, so the worker is idle when a check arrives,
    /// as it is when a person presses "check now".
    #[arg(long, default_value_t = 20)]
    gap_ms: u64,
    /// A sample slower than this fails the run.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

/// A `check` event as it arrived: its check id and when.
type Arrival = (String, Instant);

/// Reads the SSE stream and forwards every `check` event; `ready` fires once
/// the snapshot arrived, i.e. the stream is subscribed.
async fn read_events(
    response: reqwest::Response,
    ready: tokio::sync::oneshot::Sender<()>,
    arrivals: mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<()> {
    let mut ready = Some(ready);
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("reading /api/events")?;
        let arrived = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        // Events end with a blank line.
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let (mut name, mut data) = ("", String::new());
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim_start();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            match name {
                "snapshot" => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                "check" => {
                    let event: serde_json::Value =
                        serde_json::from_str(&data).context("a check event that is not JSON")?;
                    if let Some(id) = event["check_id"].as_str() {
                        let _ = arrivals.send((id.to_owned(), arrived));
                    }
                }
                _ => {}
            }
        }
    }
    bail!("/api/events ended")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::new();
    let events = client
        .get(format!("{}/api/events", args.base_url))
        .bearer_auth(&args.token)
        .send()
        .await
        .context("GET /api/events")?
        .error_for_status()
        .context("GET /api/events")?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_events(events, ready_tx, arrivals_tx));
    tokio::time::timeout(Duration::from_secs(args.timeout_secs), ready_rx)
        .await
        .context("no snapshot on /api/events")?
        .context("/api/events closed before its snapshot")?;

    let check_url = format!("{}/api/monitors/{}/check", args.base_url, args.monitor_id);
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut latencies_ms = Vec::with_capacity(args.samples);
    for sample in 0..args.samples {
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
        let sent = Instant::now();
        let response = client
            .post(&check_url)
            .bearer_auth(&args.token)
            .header(CONTENT_TYPE, "application/json")
            .send()
            .await
            .context("POST check")?;
        if response.status() != reqwest::StatusCode::ACCEPTED {
            bail!(
                "POST check answered {}: {}",
                response.status(),
                response.text().await?
            );
        }
        let queued: serde_json::Value = response.json().await.context("POST check body")?;
        let check_id = queued["check_id"]
            .as_str()
            .context("POST check returned no check_id")?
            .to_owned();
        // Events for other checks (a scheduled one) are stale here: skip them.
        let arrived = tokio::time::timeout(timeout, async {
            while let Some((id, at)) = arrivals.recv().await {
                if id == check_id {
                    return Some(at);
                }
            }
            None
        })
        .await
        .with_context(|| format!("sample {sample}: no check event within {timeout:?}"))?;
        let Some(arrived) = arrived else {
            return match reader.await {
                Ok(Err(e)) => Err(e),
                _ => Err(anyhow::anyhow!("the event reader stopped")),
            };
        };
        latencies_ms.push(arrived.duration_since(sent).as_secs_f64() * 1000.0);
    }
    reader.abort();
    println!("{}", serde_json::json!({ "latencies_ms": latencies_ms }));
    Ok(())
}
