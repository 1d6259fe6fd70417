//! Work a worker does on a clock rather than from a queue (claiming due
//! work, pruning old rows). Every worker process runs every periodic task:
//! make each tick safe to run side by side (claim rows atomically).

use std::{future::Future, time::Duration};

use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// A task the [`JobHost`](super::JobHost) runs every `period`.
pub trait Periodic: Send + Sync + 'static {
    /// For logs and metrics (the `task` label).
    const NAME: &'static str;
    /// What [`Periodic::tick`] counts, for the log: "checks queued".
    const DONE: &'static str;

    fn period(&self) -> Duration;

    /// One round; how many things it did. The host logs and counts the
    /// outcome (`periodic_task_done_total`, `periodic_task_failures_total`);
    /// after an error the next tick tries again.
    fn tick(&self) -> impl Future<Output = anyhow::Result<u64>> + Send;
}

/// A clock that also hears the stop signal, so every loop ends the same way.
pub struct Ticker {
    interval: Interval,
    stop: CancellationToken,
}

impl Ticker {
    pub fn new(period: Duration, stop: CancellationToken) -> Self {
        let mut interval = tokio::time::interval(period);
        // A slow round delays the next one rather than causing a burst.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { interval, stop }
    }

    /// Waits for the next tick: true to go on, false once stopping.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.interval.tick() => true,
            () = self.stop.cancelled() => false,
        }
    }
}

/// Runs `task` until `stop`.
pub(super) async fn run<P: Periodic>(task: P, stop: CancellationToken) {
    let mut ticker = Ticker::new(task.period(), stop);
    while ticker.next().await {
        match task.tick().await {
            Ok(0) => {}
            Ok(done) => {
                metrics::counter!("periodic_task_done_total", "task" => P::NAME).increment(done);
                tracing::debug!(task = P::NAME, done, "{}", P::DONE);
            }
            Err(e) => {
                metrics::counter!("periodic_task_failures_total", "task" => P::NAME).increment(1);
                tracing::warn!(task = P::NAME, error = %format!("{e:#}"), "periodic task failed; retrying next tick");
            }
        }
    }
    tracing::debug!(task = P::NAME, "periodic task stopped");
}
