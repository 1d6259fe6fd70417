//! The consuming side of the queues in Redis: apalis settings for workers,
//! the poll strategy that also listens for wake-ups, and deregistering.
//!
//! Heartbeat: every `HEARTBEAT_INTERVAL_SECS` a worker marks itself alive.
//! One silent for `× MISSED_HEARTBEATS` is dead, and a live worker puts its
//! in-flight jobs back on the queue. Defaults, 5 s × 6: a SIGKILLed worker's
//! jobs run again within about 35 s, while a worker busy draining (it sends
//! no heartbeats then) for up to `SHUTDOWN_TIMEOUT_SECS` (20 s) is not
//! mistaken for a dead one.

use std::task::{Context, Poll};

use apalis::prelude::{IntervalStrategy, PollSnapshot, PollStrategy};
use apalis_redis::{Config, ConnectionManager};

use super::host::JobHostConfig;
use crate::queue::producer_config;

/// A worker's settings: the producer's plus heartbeat and fetching.
pub(super) fn worker_config(queue: &str, config: &JobHostConfig) -> Config {
    producer_config(queue)
        .heartbeat_interval(config.heartbeat_interval)
        .missed_heartbeats(config.missed_heartbeats)
        // Fetched-but-unstarted tasks wait in this worker's in-flight set;
        // fetching more than can run only delays them.
        .batch_size(config.concurrency.clamp(1, 100))
        // Task leases are never renewed nor consulted for recovery (that is
        // the heartbeat's job); taking one costs a Redis command per task.
        .lock_tasks(false)
}

/// apalis-redis 1.0 leaves a stopped worker in the workers set (its cleanup
/// removes the wrong member); remove it so the set lists live workers only.
pub(super) async fn deregister(conn: &ConnectionManager, queue: &str, name: &str) {
    let config = producer_config(queue);
    let mut conn = conn.clone();
    let metadata = format!("{}:metadata:{name}", config.workers_set());
    if let Err(e) = redis::pipe()
        .cmd("ZREM")
        .arg(config.workers_set())
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

/// When an idle worker fetches: every `POLL_INTERVAL_MS`, and at once when a
/// wake-up arrives on NATS. Polling stays the guarantee; the wake-up only
/// lets an idle worker react in milliseconds without polling (and paying
/// for) Redis more often.
pub(super) struct PollOrWake {
    interval: IntervalStrategy,
    wake_ups: Option<async_nats::Subscriber>,
}

impl PollOrWake {
    pub(super) fn new(poll: std::time::Duration, wake_ups: Option<async_nats::Subscriber>) -> Self {
        Self {
            interval: IntervalStrategy::new(poll),
            wake_ups,
        }
    }
}

impl PollStrategy for PollOrWake {
    fn poll_drive(&mut self, cx: &mut Context<'_>, snapshot: &PollSnapshot) -> Poll<Option<()>> {
        use futures::StreamExt;
        // Both are polled every time, so each holds the waker; wake-ups that
        // piled up while busy count as one.
        let mut woken = false;
        while let Some(wake_ups) = &mut self.wake_ups {
            match wake_ups.poll_next_unpin(cx) {
                Poll::Ready(Some(_)) => woken = true,
                Poll::Ready(None) => self.wake_ups = None,
                Poll::Pending => break,
            }
        }
        let ticked = matches!(
            self.interval.poll_drive(cx, snapshot),
            Poll::Ready(Some(()))
        );
        if woken || ticked {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}
