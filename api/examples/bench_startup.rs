//! Start-up time, as `cargo xtask bench` measures it: starts a command (the
//! api) several times and, polling every few milliseconds over a fresh
//! connection, records how long after the spawn its liveness URL and then its
//! readiness URL first answer 200. Each run is stopped with SIGTERM, as Fly
//! stops a machine, before the next starts.
//!
//! `bench_startup --health URL --ready URL --runs 5 --log FILE -- target/release/api serve`
//!
//! The command inherits the environment. Prints one JSON object on stdout:
//! `{"health_ms": [...], "ready_ms": [...]}`, one entry per run.

use std::{
    fs::OpenOptions,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    health: String,
    #[arg(long)]
    ready: String,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value_t = 5)]
    interval_ms: u64,
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// The command's stdout and stderr are appended here.
    #[arg(long)]
    log: PathBuf,
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Polls until `url` answers 200; returns when, measured from `started`.
async fn first_200(
    client: &reqwest::Client,
    url: &str,
    started: Instant,
    interval: Duration,
    deadline: Duration,
    child: &mut Child,
) -> anyhow::Result<Duration> {
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == reqwest::StatusCode::OK
        {
            return Ok(started.elapsed());
        }
        if let Some(status) = child.try_wait()? {
            bail!("the command exited ({status}) before {url} answered 200");
        }
        if started.elapsed() > deadline {
            bail!("{url} did not answer 200 within {deadline:?}");
        }
        tokio::time::sleep(interval).await;
    }
}

/// SIGTERM, as Fly sends; SIGKILL only if it will not stop.
async fn stop(child: &mut Child) -> anyhow::Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .context("kill -TERM")?;
    for _ in 0..600 {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill()?;
    child.wait()?;
    bail!("the command did not stop within 30 s of SIGTERM")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("opening {}", args.log.display()))?;
    // A new connection per poll, as a health checker makes, and a short
    // timeout so one slow answer does not hide the next.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(1))
        .build()?;
    let interval = Duration::from_millis(args.interval_ms);
    let deadline = Duration::from_secs(args.timeout_secs);
    let (mut health_ms, mut ready_ms) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        let started = Instant::now();
        let mut child = Command::new(&args.command[0])
            .args(&args.command[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .spawn()
            .with_context(|| format!("starting {}", args.command[0]))?;
        let measured = async {
            let health = first_200(
                &client,
                &args.health,
                started,
                interval,
                deadline,
                &mut child,
            )
            .await?;
            let ready = first_200(
                &client,
                &args.ready,
                started,
                interval,
                deadline,
                &mut child,
            )
            .await?;
            anyhow::Ok((health, ready))
        }
        .await;
        let stopped = stop(&mut child).await;
        let (health, ready) = measured?;
        stopped?;
        health_ms.push(health.as_secs_f64() * 1000.0);
        ready_ms.push(ready.as_secs_f64() * 1000.0);
    }
    println!(
        "{}",
        serde_json::json!({ "health_ms": health_ms, "ready_ms": ready_ms })
    );
    Ok(())
}
