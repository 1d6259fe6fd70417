//! Running background jobs: apalis on Redis, generic over the job.
//!
//! A job is data ([`Job`]) that the api (or a periodic task) queues with a
//! [`Queue`](crate::queue::Queue), and a [`Handler`] that a worker process
//! runs it with. The
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
//! pub struct Receipts { app: App }
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

use crate::queue::Job;

pub use host::{JobHost, JobHostConfig, worker_name};
pub use periodic::{Periodic, Ticker};

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
