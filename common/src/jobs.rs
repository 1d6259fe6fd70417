//! Jobs that pass from the api (and the scheduler) to the worker through
//! apalis on Redis.
//!
//! The queue name is spelled out here instead of apalis' default (the job
//! type's Rust path): moving or renaming the type would otherwise orphan every
//! queued job.

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The Redis queue the worker consumes checks from. Overridable with
/// `CHECK_QUEUE` so several copies (or tests) can share one Redis.
pub const CHECK_QUEUE: &str = "beacon:checks";

/// Probe one monitor once. `check_id` becomes the primary key of the recorded
/// check: delivery is at-least-once, and a redelivered job must not record twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckMonitor {
    pub check_id: Uuid,
    pub monitor_id: Uuid,
    pub trigger: CheckTrigger,
    pub requested_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckTrigger {
    /// Due by the monitor's interval.
    Schedule,
    /// A user pressed "check now".
    Manual,
}

impl CheckTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }
}

impl CheckMonitor {
    pub fn new(monitor_id: Uuid, trigger: CheckTrigger) -> Self {
        Self {
            check_id: Uuid::now_v7(),
            monitor_id,
            trigger,
            requested_at: Utc::now(),
        }
    }
}

/// The queue's settings as the producers (api, scheduler) use them. The
/// worker adds its heartbeat settings on top (see `worker::queue`).
pub fn queue_config(queue: &str) -> Config {
    Config::default()
        .queue(queue)
        // Task events are published for apalis' web board, which Beacon does
        // not run: every PUBLISH would be a billed command on Upstash.
        .emit_events(false)
}

/// The storage the producers push [`CheckMonitor`] jobs into.
pub fn check_storage(conn: ConnectionManager, queue: &str) -> RedisStorage<CheckMonitor> {
    RedisStorage::new(conn).with_config(queue_config(queue))
}

/// The NATS subject that tells workers "jobs are waiting on this queue".
pub fn wake_subject(queue: &str) -> String {
    format!("beacon.wake.{queue}")
}

/// Tells idle workers to fetch now instead of at their next poll: "check
/// now" lands in milliseconds rather than up to `POLL_INTERVAL_MS` later.
/// Only a hint (core NATS is at-most-once): polling still finds every job.
pub async fn wake_workers(nats: &async_nats::Client, queue: &str) {
    if let Err(e) = nats.publish(wake_subject(queue), bytes::Bytes::new()).await {
        tracing::debug!(error = %e, "could not wake the workers; they will poll");
    }
}

/// Queues checks, each under its check id as the task id: pushing the same
/// check twice (a retried scheduler tick) stores it once, because the queue
/// keeps the first task of a given id.
pub async fn enqueue(
    storage: &mut RedisStorage<CheckMonitor>,
    jobs: Vec<CheckMonitor>,
) -> Result<(), apalis::prelude::TaskSinkError<apalis_redis::Error>> {
    let tasks = jobs.into_iter().map(|job| {
        let id = TaskId::from_string(job.check_id.to_string());
        TaskBuilder::new(job).task_id(id).build()
    });
    storage.push_all(futures::stream::iter(tasks)).await
}
