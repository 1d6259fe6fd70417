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
use platform::testing::SseStream;
use reqwest::{StatusCode, header::CONTENT_TYPE};

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let timeout = Duration::from_secs(args.timeout_secs);
    let client = reqwest::Client::new();
    let mut events = SseStream::subscribed(&client, &args.base_url, &args.token, timeout).await?;

    let check_url = format!("{}/api/monitors/{}/check", args.base_url, args.monitor_id);
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
        if response.status() != StatusCode::ACCEPTED {
            bail!(
                "POST check answered {}: {}",
                response.status(),
                response.text().await?
            );
        }
        let queued: serde_json::Value = response.json().await.context("POST check body")?;
        let check_id = queued["check_id"].clone();
        // Events for other checks (a scheduled one) are stale here: skip them.
        loop {
            let event = events
                .try_next_named("check", timeout)
                .await
                .with_context(|| format!("sample {sample}"))?;
            if event.json()["check_id"] == check_id {
                break;
            }
        }
        latencies_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    println!("{}", serde_json::json!({ "latencies_ms": latencies_ms }));
    Ok(())
}
