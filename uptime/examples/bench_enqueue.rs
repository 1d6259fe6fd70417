//! Worker throughput, as `cargo xtask bench` measures it: queues N
//! `CheckMonitor` jobs the way the scheduler does (`Queue::push_all` in
//! batches, each of which wakes the workers), spread
//! round-robin over a user's monitors, and waits until
//! all N checks are recorded in Postgres. The clock runs from the first
//! enqueue to the last row, so it covers Redis, the worker's fetch, the
//! probe, recording and publishing.
//!
//! Prints one JSON object on stdout: checks, how many came back ok, and the
//! milliseconds to queue them, to the first recorded and to the last.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use platform::{
    app::App,
    config::{Env, PlatformConfig},
};
use uptime::{checks::CheckMonitor, model::CheckTrigger};
use uuid::Uuid;

/// Connections come from the environment, as the worker's do
/// (`DATABASE_URL`, `REDIS_URL`, `NATS_URL`, `QUEUE_PREFIX`).
#[derive(Parser)]
struct Args {
    /// Whose monitors get the checks.
    #[arg(long)]
    user_id: Uuid,
    #[arg(long, default_value_t = 5000)]
    checks: usize,
    /// Jobs per enqueue call; the scheduler's default batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = Env::from_process();
    let config = PlatformConfig::from_env(&env)?;
    let app = App::connect(env, config, "beacon-bench-enqueue").await?;
    let db = app.db.clone();
    let queue = app.queues.queue::<CheckMonitor>();
    // The client connects in the background; a wake-up sent before it is
    // connected would wait in its buffer, inside the measurement.
    let connected = || app.nats.connection_state() == async_nats::connection::State::Connected;
    for _ in 0..500 {
        if connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !connected() {
        bail!("NATS did not connect within 5 s");
    }

    let monitors: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM monitors WHERE user_id = $1 ORDER BY id")
            .bind(args.user_id)
            .fetch_all(&db)
            .await
            .context("reading the monitors")?;
    if monitors.is_empty() {
        bail!("user {} has no monitors", args.user_id);
    }
    let recorded = async || -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM checks WHERE monitor_id = ANY($1)")
                .bind(&monitors)
                .fetch_one(&db)
                .await?,
        )
    };
    let before = recorded().await?;
    let target = before + i64::try_from(args.checks)?;
    let jobs: Vec<CheckMonitor> = (0..args.checks)
        .map(|i| CheckMonitor::new(monitors[i % monitors.len()], CheckTrigger::Schedule))
        .collect();

    let started = Instant::now();
    for batch in jobs.chunks(args.batch.max(1)) {
        queue.push_all(batch.to_vec()).await?;
    }
    let enqueued = started.elapsed();

    let deadline = Duration::from_secs(args.timeout_secs);
    let mut first = None;
    loop {
        let count = recorded().await?;
        if first.is_none() && count > before {
            first = Some(started.elapsed());
        }
        if count >= target {
            break;
        }
        if started.elapsed() > deadline {
            bail!(
                "only {} of {} checks recorded within {deadline:?}",
                count - before,
                args.checks
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = started.elapsed();

    let ok: i64 =
        sqlx::query_scalar("SELECT count(*) FROM checks WHERE monitor_id = ANY($1) AND ok")
            .bind(&monitors)
            .fetch_one(&db)
            .await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "checks": args.checks,
            "monitors": monitors.len(),
            "ok": ok,
            "enqueue_ms": ms(enqueued),
            "first_recorded_ms": first.map(ms),
            "all_recorded_ms": ms(done),
        })
    );
    Ok(())
}
