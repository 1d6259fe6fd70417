//! A live event's way to the browser, as `cargo xtask bench` measures it:
//! one client holds `GET /api/events` open, then, one sample at a time,
//! publishes an event on the user's NATS subject (`platform::live::publish`,
//! as a job or a handler does) and waits for it on the stream. A sample is
//! the time from the publish to the event's arrival, so it covers NATS, the
//! api's fan-out to the user's streams and the SSE hop: what every area's
//! live updates cost on top of their own work.
//!
//! Prints one JSON object on stdout: `{"latencies_ms": [...]}`, in sample
//! order; the bench (xtask/src/bench/report.rs) computes the percentiles.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use platform::testing::SseStream;
use uuid::Uuid;

/// The event's name: no part of the app listens for it.
const EVENT: &str = "bench";

#[derive(Parser)]
struct Args {
    /// The api, e.g. http://127.0.0.1:8080
    #[arg(long)]
    base_url: String,
    /// The NATS server the api subscribes to.
    #[arg(long)]
    nats_url: String,
    /// A bearer token from `POST /api/auth/token`.
    #[arg(long, env = "BENCH_TOKEN", hide_env_values = true)]
    token: String,
    /// The token's user: the subject the events are published on.
    #[arg(long)]
    user_id: Uuid,
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Pause between samples, so each event finds the api idle, as a
    /// dashboard's updates do.
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
    let nats = async_nats::connect(&args.nats_url)
        .await
        .with_context(|| format!("connecting to {}", args.nats_url))?;
    let mut events = SseStream::subscribed(
        &reqwest::Client::new(),
        &args.base_url,
        &args.token,
        timeout,
    )
    .await?;

    let mut latencies_ms = Vec::with_capacity(args.samples);
    for sample in 0..args.samples {
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
        let sent = Instant::now();
        platform::live::publish(
            &nats,
            args.user_id,
            EVENT,
            &serde_json::json!({ "sample": sample }),
        )
        .await;
        let event = events
            .try_next_named(EVENT, timeout)
            .await
            .with_context(|| format!("sample {sample}"))?;
        let arrived = sent.elapsed();
        // Core NATS keeps a publisher's order, so an event out of turn is
        // a lost one.
        if event.json()["sample"] != sample {
            bail!("sample {sample}: the stream sent {} instead", event.data);
        }
        latencies_ms.push(arrived.as_secs_f64() * 1000.0);
    }
    println!("{}", serde_json::json!({ "latencies_ms": latencies_ms }));
    Ok(())
}
