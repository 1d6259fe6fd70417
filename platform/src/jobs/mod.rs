//! Background jobs: apalis on Redis, generic over the job.
//!
//! A job is data ([`Job`]) that the api (or a periodic task) queues with a
//! [`Queue`], and a [`Handler`] that a worker process runs it with. The
//! worker registers each handler with the [`JobHost`], which keeps an apalis
//! worker per queue alive. Adding a job is one file with both, plus one
//! `register` line in the worker:
//!
//! ```ignore
//! #[derive(Serialize, Deserialize)]
//! pub struct SendReceipt { pub order_id: Uuid }
//!
//! impl Job for SendReceipt {
//!     const QUEUE: &'static str = "receipts";
//!     fn id(&self) -> String { self.order_id.to_string() }
//! }
//!
//! pub struct Receipts { services: Services }
//!
//! impl Handler for Receipts {
//!     type Job = SendReceipt;
//!     async fn handle(&self, job: SendReceipt) -> Result<(), JobError> { … }
//! }
//! ```
//!
//! Delivery is at-least-once: a handler must be idempotent, and the job's
//! [`Job::id`] is the handle for that (the same id is stored once, and a
//! redelivered job carries it).

mod backend;
mod host;
mod periodic;

use std::{marker::PhantomData, sync::Arc};

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::{ConnectionManager, RedisStorage};
use serde::{Serialize, de::DeserializeOwned};

pub use backend::{depth, prune_finished_tasks};
pub use host::{JobHost, JobHostConfig, worker_name};
pub use periodic::{Periodic, Ticker};

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

/// How a job attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (a dependency is down): retried with
    /// exponential back-off up to `JOB_MAX_ATTEMPTS`, then aborted.
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Never worth retrying: the job goes to the queue's dead set now.
    #[error("{0:#}")]
    Abort(anyhow::Error),
}

impl JobError {
    pub fn abort(error: impl Into<anyhow::Error>) -> Self {
        Self::Abort(error.into())
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        Self::Retry(anyhow::Error::new(e).context("database error"))
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self::Retry(e)
    }
}

/// Runs jobs of one type in a worker process.
pub trait Handler: Send + Sync + 'static {
    type Job: Job;

    /// One attempt. A failing *target* (a site that is down, a webhook that
    /// answers 500) is not a failure of the handler unless it should be
    /// retried: decide which, and return `Ok` for what was handled.
    fn handle(
        &self,
        job: Self::Job,
    ) -> impl std::future::Future<Output = Result<(), JobError>> + Send;
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
            storage: RedisStorage::new(self.redis.clone())
                .with_config(backend::producer_config(&name)),
            nats: self.nats.clone(),
            wake_subject: backend::wake_subject(&name).into(),
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
