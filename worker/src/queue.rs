//! The worker's side of the check queue: its settings, its housekeeping, and
//! its depth for `/metrics`.
//!
//! Heartbeat: every `HEARTBEAT_INTERVAL_SECS` a worker marks itself alive.
//! One silent for `× MISSED_HEARTBEATS` is dead, and a live worker puts its
//! in-flight checks back on the queue. Defaults, 5 s × 6: a SIGKILLed worker's
//! checks run again within about 35 s, while a worker busy draining (it sends
//! no heartbeats then) for up to `SHUTDOWN_TIMEOUT_SECS` (20 s) is not
//! mistaken for a dead one.

use apalis_redis::{Config, ConnectionManager, RedisStorage};

use crate::config::WorkerConfig;

pub fn worker_config(config: &WorkerConfig) -> Config {
    common::jobs::queue_config(&config.check_queue)
        .heartbeat_interval(config.heartbeat_interval)
        .missed_heartbeats(config.missed_heartbeats)
        // Fetched-but-unstarted tasks wait in this worker's in-flight set;
        // fetching more than can run only delays them.
        .batch_size(config.concurrency.clamp(1, 100))
        // Task leases are never renewed nor consulted for recovery (that is
        // the heartbeat's job); taking one costs a Redis command per task.
        .lock_tasks(false)
}

/// The worker reads jobs as raw JSON: see [`crate::job::check_monitor`].
pub fn worker_storage(
    conn: ConnectionManager,
    config: &WorkerConfig,
) -> RedisStorage<serde_json::Value> {
    RedisStorage::new(conn).with_config(worker_config(config))
}

/// Finished tasks stay in Redis (their id in `{queue}:done`, their payload
/// and metadata beside it) until someone removes them; nothing in apalis
/// does. Removes up to `batch`; how many it removed.
pub async fn prune_finished_tasks(
    conn: &ConnectionManager,
    queue: &str,
    batch: usize,
) -> redis::RedisResult<usize> {
    let config = common::jobs::queue_config(queue);
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

/// Checks waiting to run: due in the scheduled set plus the active list.
pub async fn depth(conn: &ConnectionManager, queue: &str) -> redis::RedisResult<u64> {
    let config = common::jobs::queue_config(queue);
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
