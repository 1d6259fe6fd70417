//! Runs the apalis worker that executes checks, and keeps it running.
//!
//! Not apalis' own `Monitor`, because of two traps in apalis-redis 1.0:
//! a restarted worker keeps its name, which Redis refuses while that name's
//! last heartbeat is fresh (so a restart after a dropped connection fails
//! again and again), and `run_with_signal` returns `Ok(())` even when every
//! worker has died. Here every start gets a fresh name, restarts back off,
//! and giving up is an error the process exits non-zero on, so Fly's restart
//! policy takes over.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use apalis::{
    layers::retry::{
        HasherRng, RetryPolicy,
        backoff::{ExponentialBackoffMaker, MakeBackoff},
    },
    prelude::{BackendExt, ParallelizeExt, WorkerBuilder, WorkerBuilderExt, WorkerError},
};
use apalis_redis::ConnectionManager;
use tokio::sync::watch;

use crate::{config::WorkerConfig, job::CheckDeps, queue};

/// A worker that ran this long before failing was healthy: start counting again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(10);

/// Returns `Ok` after a graceful stop, `Err` when it gave up restarting.
pub async fn run_check_worker(
    config: &WorkerConfig,
    base_name: &str,
    deps: Arc<CheckDeps>,
    redis: ConnectionManager,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut quick_failures = 0u32;
    for start in 0u64.. {
        let name = format!("{base_name}-{start}");
        let started = tokio::time::Instant::now();
        tracing::info!(worker = %name, queue = %config.check_queue, "check worker starting");
        let outcome = run_once(config, &name, deps.clone(), redis.clone(), stop.clone()).await;
        if *stop.borrow() {
            return Ok(());
        }
        metrics::counter!("beacon_worker_restarts_total").increment(1);
        match outcome {
            Ok(()) => tracing::error!(worker = %name, "check worker stopped by itself; restarting"),
            Err(e) => {
                tracing::error!(worker = %name, error = %e, "check worker failed; restarting")
            }
        }
        quick_failures = if started.elapsed() >= HEALTHY_RUN {
            1
        } else {
            quick_failures + 1
        };
        if quick_failures > config.max_quick_restarts {
            anyhow::bail!("check worker failed {quick_failures} times in a row; giving up");
        }
        let delay = (Duration::from_millis(250) * 2u32.saturating_pow(quick_failures.min(6)))
            .min(MAX_RESTART_DELAY);
        if wait_or_stop(delay, stop.clone()).await {
            return Ok(());
        }
    }
    Ok(())
}

async fn run_once(
    config: &WorkerConfig,
    name: &str,
    deps: Arc<CheckDeps>,
    redis: ConnectionManager,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let backoff = ExponentialBackoffMaker::new(
        config.retry_base_delay,
        config.retry_base_delay * 20,
        0.5,
        HasherRng::default(),
    )
    .map_err(|e| anyhow::anyhow!("invalid retry backoff: {e}"))?
    .make_backoff();
    let wake_ups = match deps
        .nats
        .subscribe(common::jobs::wake_subject(&config.check_queue))
        .await
    {
        Ok(subscriber) => Some(subscriber),
        Err(e) => {
            tracing::warn!(error = %e, "no wake-ups from NATS; polling only");
            None
        }
    };
    let backend = queue::worker_storage(redis.clone(), config)
        .poll_with_strategy(queue::PollOrWake::new(config.poll_interval, wake_ups));
    let worker = WorkerBuilder::new(name)
        .backend(backend)
        .data(deps)
        // Before the retries, so a retrying check keeps its one slot.
        .concurrency(config.concurrency)
        // In-process retries with exponential backoff, up to the budget;
        // the handler aborts the job on the last attempt.
        .retry(RetryPolicy::retries(config.max_attempts).with_backoff(backoff))
        .parallelize(tokio::spawn)
        .build(crate::job::check_monitor);

    let mut stop_for_worker = stop.clone();
    // Boxed as `dyn Future + Send` here, where the compiler can prove it:
    // left generic, the worker's future fails the `Send` check of an outer
    // `tokio::spawn` (a higher-ranked lifetime inference limitation).
    let mut run: Pin<Box<dyn Future<Output = Result<(), WorkerError>> + Send>> =
        Box::pin(worker.run_until(async move {
            let _ = stop_for_worker.wait_for(|stopped| *stopped).await;
            Ok::<(), std::io::Error>(())
        }));
    // The worker waits for in-flight checks without limit; bound the drain.
    let drain = config.shutdown_timeout;
    let deadline = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = &mut run => {
            let stopped_gracefully = result.is_ok();
            result.map_err(|e| anyhow::anyhow!("{e}"))?;
            if stopped_gracefully {
                deregister(&redis, config, name).await;
            }
            Ok(())
        }
        () = deadline => {
            tracing::warn!(worker = %name, timeout_secs = drain.as_secs(), "drain time over; checks still running will be re-run by another worker");
            Ok(())
        }
    }
}

/// apalis-redis 1.0 leaves a stopped worker in the workers set (its cleanup
/// removes the wrong member); remove it so the set lists live workers only.
async fn deregister(redis: &ConnectionManager, config: &WorkerConfig, name: &str) {
    let mut conn = redis.clone();
    let queue = queue::worker_config(config);
    let metadata = format!("{}:metadata:{name}", queue.workers_set());
    if let Err(e) = redis::pipe()
        .cmd("ZREM")
        .arg(queue.workers_set())
        .arg(name)
        .ignore()
        .cmd("DEL")
        .arg(metadata)
        .ignore()
        .query_async::<()>(&mut conn)
        .await
    {
        tracing::warn!(error = %e, "could not deregister the worker");
    }
}

/// Sleeps for `delay`; true if the stop signal came first.
async fn wait_or_stop(delay: Duration, mut stop: watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        _ = stop.wait_for(|stopped| *stopped) => true,
    }
}

/// A name no other process, and no earlier start of this one, has used:
/// Fly machine id (or host name) plus a random part.
pub fn base_name(fly_machine_id: Option<&str>) -> String {
    let host = fly_machine_id
        .map(str::to_owned)
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    format!("beacon-worker-{host}-{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_process_start_gets_a_new_name() {
        let first = base_name(Some("e82"));
        let second = base_name(Some("e82"));
        assert!(first.starts_with("beacon-worker-e82-"));
        assert_ne!(first, second);
    }
}
