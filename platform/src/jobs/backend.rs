//! The queues' Redis side: apalis settings for producers and workers, the
//! poll strategy that also listens for wake-ups, housekeeping, and depth.
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

/// The queue's settings as producers use them.
pub(super) fn producer_config(queue: &str) -> Config {
    Config::default()
        .queue(queue)
        // Task events are published for apalis' web board, which Beacon does
        // not run: every PUBLISH would be a billed command on Upstash.
        .emit_events(false)
}

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

/// The NATS subject that tells workers "jobs are waiting on this queue".
pub(super) fn wake_subject(queue: &str) -> String {
    format!("beacon.wake.{queue}")
}

/// Finished tasks stay in Redis (their id in `{queue}:done`, their payload
/// and metadata beside it) until someone removes them; nothing in apalis
/// does. Removes up to `batch`; how many it removed.
pub async fn prune_finished_tasks(
    conn: &ConnectionManager,
    queue: &str,
    batch: usize,
) -> redis::RedisResult<usize> {
    let config = producer_config(queue);
    let mut conn = conn.clone();
    let ids: Vec<String> = redis::cmd("SPOP")
        .arg(config.done_jobs_set())
        .arg(batch)
        .query_async(&mut conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    pipe.cmd("HDEL")
        .arg(config.job_data_hash())
        .arg(&ids)
        .ignore();
    let meta_keys: Vec<String> = ids
        .iter()
        .map(|id| format!("{}:{id}", config.job_meta_hash()))
        .collect();
    pipe.cmd("DEL").arg(&meta_keys).ignore();
    pipe.query_async::<()>(&mut conn).await?;
    Ok(ids.len())
}

/// Jobs waiting to run: due in the scheduled set plus the active list.
/// (apalis-redis' own metrics queries do not work in 1.0.)
pub async fn depth(conn: &ConnectionManager, queue: &str) -> redis::RedisResult<u64> {
    let config = producer_config(queue);
    let mut conn = conn.clone();
    let (scheduled, active): (u64, u64) = redis::pipe()
        .cmd("ZCOUNT")
        .arg(config.scheduled_jobs_set())
        .arg("-inf")
        .arg(chrono::Utc::now().timestamp())
        .cmd("LLEN")
        .arg(config.active_jobs_list())
        .query_async(&mut conn)
        .await?;
    Ok(scheduled + active)
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
