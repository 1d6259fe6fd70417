//! Queueing background jobs: apalis on Redis, generic over the job. The api
//! (or a periodic task) pushes a [`Job`] with a [`Queue`]; a worker runs it
//! with a handler registered on its [`JobHost`](crate::jobs::JobHost).

use std::{marker::PhantomData, sync::Arc};

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use serde::{Serialize, de::DeserializeOwned};

/// Data for a background job.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// The queue's name under `QUEUE_PREFIX` (`beacon:<QUEUE>`). Spelled
    /// out: apalis' default, the type's Rust path, would orphan every queued
    /// job when the type moves or is renamed.
    const QUEUE: &'static str;

    /// The task id. Pushing a job whose id is queued already stores nothing,
    /// and a redelivered job carries the same id, so a handler can make its
    /// effect happen once.
    fn id(&self) -> String;
}

/// Opens [`Queue`]s: knows the Redis connection, the queue prefix and how to
/// wake idle workers. Cloning is cheap.
#[derive(Clone)]
pub struct Queues {
    redis: ConnectionManager,
    nats: async_nats::Client,
    prefix: Arc<str>,
}

impl Queues {
    pub fn new(redis: ConnectionManager, nats: async_nats::Client, prefix: &str) -> Self {
        Self {
            redis,
            nats,
            prefix: prefix.into(),
        }
    }

    /// The full Redis name of a job's queue: `<prefix>:<QUEUE>`.
    pub fn name<J: Job>(&self) -> String {
        self.name_of(J::QUEUE)
    }

    pub fn name_of(&self, queue: &str) -> String {
        format!("{}:{queue}", self.prefix)
    }

    /// A handle that pushes `J` jobs. Make it once (it prepares the queue's
    /// scripts) and clone it.
    pub fn queue<J: Job>(&self) -> Queue<J> {
        let name = self.name::<J>();
        Queue {
            storage: RedisStorage::new(self.redis.clone()).with_config(producer_config(&name)),
            nats: self.nats.clone(),
            wake_subject: wake_subject(&name).into(),
            job: PhantomData,
        }
    }
}

/// Pushes jobs of one type onto their queue.
pub struct Queue<J> {
    storage: RedisStorage<serde_json::Value>,
    nats: async_nats::Client,
    wake_subject: Arc<str>,
    job: PhantomData<fn(J)>,
}

impl<J> Clone for Queue<J> {
    fn clone(&self) -> Self {
        Self {
            storage: self.storage.clone(),
            nats: self.nats.clone(),
            wake_subject: Arc::clone(&self.wake_subject),
            job: PhantomData,
        }
    }
}

/// Queueing failed: Redis is unreachable or refused the write.
#[derive(Debug, thiserror::Error)]
#[error("cannot queue jobs: {0}")]
pub struct QueueError(String);

impl<J: Job> Queue<J> {
    pub async fn push(&self, job: J) -> Result<(), QueueError> {
        self.push_all(vec![job]).await
    }

    /// Queues `jobs`, each under its [`Job::id`], then wakes idle workers.
    pub async fn push_all(&self, jobs: Vec<J>) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let tasks = jobs
            .into_iter()
            .map(|job| {
                let id = TaskId::from_string(job.id());
                serde_json::to_value(job).map(|value| TaskBuilder::new(value).task_id(id).build())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError(format!("a job does not serialise: {e}")))?;
        let mut storage = self.storage.clone();
        storage
            .push_all(futures::stream::iter(tasks))
            .await
            .map_err(|e| QueueError(e.to_string()))?;
        self.wake_workers().await;
        Ok(())
    }

    /// Tells idle workers to fetch now instead of at their next poll, so a
    /// job lands in milliseconds rather than up to `POLL_INTERVAL_MS` later.
    /// Only a hint (core NATS is at-most-once): polling still finds every job.
    async fn wake_workers(&self) {
        let subject = self.wake_subject.to_string();
        if let Err(e) = self.nats.publish(subject, bytes::Bytes::new()).await {
            tracing::debug!(error = %e, "could not wake the workers; they will poll");
        }
    }
}

/// The queue's settings as producers use them.
pub(crate) fn producer_config(queue: &str) -> Config {
    Config::default()
        .queue(queue)
        // Task events are published for apalis' web board, which Beacon does
        // not run: every PUBLISH would be a billed command on Upstash.
        .emit_events(false)
}

/// The NATS subject that tells workers "jobs are waiting on this queue".
pub(crate) fn wake_subject(queue: &str) -> String {
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
