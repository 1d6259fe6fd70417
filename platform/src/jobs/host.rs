//! The job host: runs an apalis worker for each registered job type, plus
//! the periodic tasks, and keeps them running.
//!
//! Not apalis' own `Monitor`, because of two traps in apalis-redis 1.0: a
//! restarted worker keeps its name, which Redis refuses while that name's
//! last heartbeat is fresh (so a restart after a dropped connection fails
//! again and again), and `run_with_signal` returns `Ok(())` even when every
//! worker has died. Here every start gets a fresh name, restarts back off,
//! and giving up is an error the process exits non-zero on, so Fly's restart
//! policy takes over.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use anyhow::Context as _;

use apalis::{
    layers::retry::{
        HasherRng, RetryPolicy,
        backoff::{ExponentialBackoffMaker, MakeBackoff},
    },
    prelude::{
        AbortError, Attempt, BackendExt, BoxDynError, Data, ParallelizeExt, WorkerBuilder,
        WorkerBuilderExt, WorkerError,
    },
};
use apalis_redis::RedisStorage;
use futures::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{
    Handler, Job, JobError, Periodic,
    backend::{self, PollOrWake},
    periodic,
};
use crate::{
    app::App,
    config::{ConfigError, Env, PlatformConfig},
};

/// A worker that ran this long before failing was healthy: start counting again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(10);
/// Finished tasks removed from Redis per round of housekeeping.
const PRUNE_BATCH: usize = 1_000;

/// How the host runs jobs; the same for every queue.
#[derive(Debug, Clone)]
pub struct JobHostConfig {
    /// Jobs of one type run at once by this process.
    pub concurrency: usize,
    /// How often an idle worker asks Redis for work: the floor on pick-up
    /// latency, and on a per-command-billed Redis the main cost.
    pub poll_interval: Duration,
    /// Liveness beat to Redis; a worker silent for
    /// `heartbeat_interval × missed_heartbeats` is dead and its in-flight
    /// jobs go back on the queue.
    pub heartbeat_interval: Duration,
    pub missed_heartbeats: usize,
    /// Quick failures of a queue's worker in a row (Redis gone) before the
    /// process gives up and exits 1, for Fly's restart policy to take over.
    pub max_quick_restarts: u32,
    /// Attempts for a job whose handler asks for a retry; then it is
    /// aborted, not rescheduled forever.
    pub max_attempts: usize,
    /// The first retry's delay; it doubles with each attempt.
    pub retry_base_delay: Duration,
    /// After the stop signal, how long jobs in flight get to finish.
    pub drain: Duration,
    /// How often finished jobs are cleared out of Redis.
    pub prune_interval: Duration,
}

impl JobHostConfig {
    pub fn from_env(env: &Env, platform: &PlatformConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            concurrency: env
                .var(
                    "WORKER_CONCURRENCY",
                    "jobs of one type a worker process runs at once",
                )
                .number(32, 1..=1024)?,
            poll_interval: env
                .var(
                    "POLL_INTERVAL_MS",
                    "how often an idle worker asks Redis for work",
                )
                .millis(1_000, 10..=60_000)?,
            heartbeat_interval: env
                .var("HEARTBEAT_INTERVAL_SECS", "worker heartbeat")
                .secs(5, 1..=300)?,
            missed_heartbeats: env
                .var(
                    "MISSED_HEARTBEATS",
                    "heartbeats missed before a worker is dead and its jobs re-queued",
                )
                .number(6, 2..=100)?,
            max_quick_restarts: env
                .var(
                    "WORKER_MAX_RESTARTS",
                    "quick failures of a queue's worker in a row before the process exits 1",
                )
                .number(20, 0..=10_000)?,
            max_attempts: env
                .var(
                    "JOB_MAX_ATTEMPTS",
                    "attempts for a job whose handler fails, then it is aborted",
                )
                .number(5, 1..=25)?,
            retry_base_delay: env
                .var(
                    "JOB_RETRY_BASE_DELAY_MS",
                    "first retry delay; doubles each attempt",
                )
                .millis(500, 10..=60_000)?,
            drain: platform.shutdown_timeout,
            prune_interval: env
                .var(
                    "FINISHED_JOBS_PRUNE_SECS",
                    "how often finished jobs are cleared out of Redis",
                )
                .secs(600, 1..=86_400)?,
        })
    }

    /// How long a SIGKILLed worker's jobs wait before another takes them.
    pub fn orphan_timeout(&self) -> Duration {
        self.heartbeat_interval * u32::try_from(self.missed_heartbeats).unwrap_or(u32::MAX)
    }
}

type Supervise = Box<dyn FnOnce(Arc<Context>) -> BoxFuture<'static, anyhow::Result<()>> + Send>;
type Spawn = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// What every queue's supervisor shares.
struct Context {
    app: App,
    config: JobHostConfig,
    base_name: String,
    stop: CancellationToken,
}

/// Collects job handlers and periodic tasks, then runs them all.
pub struct JobHost {
    app: App,
    config: JobHostConfig,
    queues: Vec<(String, Supervise)>,
    periodic: Vec<Spawn>,
}

impl JobHost {
    /// Each domain reads its settings from `app.env` when it registers.
    pub fn new(app: App, config: JobHostConfig) -> Self {
        Self {
            app,
            config,
            queues: Vec::new(),
            periodic: Vec::new(),
        }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn config(&self) -> &JobHostConfig {
        &self.config
    }

    /// Runs `H::Job` jobs from their queue with `handler`.
    pub fn register<H: Handler>(&mut self, handler: H) -> &mut Self {
        let queue = self.app.queues.name::<H::Job>();
        let handler = Arc::new(Registered {
            handler,
            queue: queue.clone(),
            max_attempts: self.config.max_attempts,
        });
        self.queues.push((
            queue,
            Box::new(move |context| Box::pin(supervise(context, handler))),
        ));
        self
    }

    /// Runs `task` every `task.period()`.
    pub fn every<P: Periodic>(&mut self, task: P) -> &mut Self {
        self.periodic
            .push(Box::new(move |stop| Box::pin(periodic::run(task, stop))));
        self
    }

    /// The Redis names of the registered queues.
    pub fn queue_names(&self) -> Vec<String> {
        self.queues.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Runs until `stop` is cancelled (then drains and returns `Ok`) or a
    /// queue's worker gives up (then stops the rest and returns `Err`: the
    /// process should exit non-zero). `name` must be unique to this process
    /// start: see [`worker_name`].
    pub async fn run(self, name: &str, stop: CancellationToken) -> anyhow::Result<()> {
        let mut background = JoinSet::new();
        for spawn in self.periodic {
            background.spawn(spawn(stop.clone()));
        }
        let prune = PruneFinished {
            app: self.app.clone(),
            queues: self.queues.iter().map(|(name, _)| name.clone()).collect(),
            interval: self.config.prune_interval,
        };
        background.spawn(periodic::run(prune, stop.clone()));

        let context = Arc::new(Context {
            app: self.app,
            config: self.config,
            base_name: name.to_owned(),
            stop: stop.clone(),
        });
        let mut supervisors: FuturesUnordered<_> = self
            .queues
            .into_iter()
            .map(|(_, supervise)| supervise(Arc::clone(&context)))
            .collect();
        let mut result = Ok(());
        while let Some(outcome) = supervisors.next().await {
            if let Err(e) = outcome {
                // One queue's worker gave up: stop the others and exit.
                stop.cancel();
                result = Err(e);
            }
        }
        stop.cancel();
        while background.join_next().await.is_some() {}
        result
    }
}

/// A name no other process, and no earlier start of this one, has used:
/// `<prefix>-<machine id or host name>-<random>`.
pub fn worker_name(prefix: &str, fly_machine_id: Option<&str>) -> String {
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
    format!("{prefix}-{host}-{:08x}", rand::random::<u32>())
}

struct Registered<H> {
    handler: H,
    queue: String,
    max_attempts: usize,
}

/// Keeps one queue's apalis worker running. `Ok` after a graceful stop,
/// `Err` when it gave up restarting.
async fn supervise<H: Handler>(
    context: Arc<Context>,
    handler: Arc<Registered<H>>,
) -> anyhow::Result<()> {
    let queue = handler.queue.clone();
    let mut quick_failures = 0u32;
    for start in 0u64.. {
        let name = format!("{}-{}-{start}", context.base_name, H::Job::QUEUE);
        let started = tokio::time::Instant::now();
        tracing::info!(worker = %name, queue = %queue, "queue worker starting");
        let outcome = run_once(&context, &name, Arc::clone(&handler)).await;
        if context.stop.is_cancelled() {
            return Ok(());
        }
        metrics::counter!("jobs_worker_restarts_total", "queue" => queue.clone()).increment(1);
        match outcome {
            Ok(()) => tracing::error!(worker = %name, "queue worker stopped by itself; restarting"),
            Err(e) => {
                tracing::error!(worker = %name, error = %e, "queue worker failed; restarting")
            }
        }
        quick_failures = if started.elapsed() >= HEALTHY_RUN {
            1
        } else {
            quick_failures + 1
        };
        if quick_failures > context.config.max_quick_restarts {
            anyhow::bail!(
                "the worker of queue {queue} failed {quick_failures} times in a row; giving up"
            );
        }
        let delay = (Duration::from_millis(250) * 2u32.saturating_pow(quick_failures.min(6)))
            .min(MAX_RESTART_DELAY);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = context.stop.cancelled() => return Ok(()),
        }
    }
    Ok(())
}

async fn run_once<H: Handler>(
    context: &Context,
    name: &str,
    handler: Arc<Registered<H>>,
) -> anyhow::Result<()> {
    let config = &context.config;
    let app = &context.app;
    let queue = handler.queue.clone();
    let backoff = ExponentialBackoffMaker::new(
        config.retry_base_delay,
        config.retry_base_delay * 20,
        0.5,
        HasherRng::default(),
    )
    .map_err(|e| anyhow::anyhow!("invalid retry backoff: {e}"))?
    .make_backoff();
    let wake_ups = match app.nats.subscribe(crate::queue::wake_subject(&queue)).await {
        Ok(subscriber) => Some(subscriber),
        Err(e) => {
            tracing::warn!(error = %e, "no wake-ups from NATS; polling only");
            None
        }
    };
    // Jobs are read as raw JSON and decoded in `run_task`: a job apalis
    // cannot decode would stop the worker and return to the queue forever.
    let backend = RedisStorage::<serde_json::Value>::new(app.redis.clone())
        .with_config(backend::worker_config(&queue, config))
        .poll_with_strategy(PollOrWake::new(config.poll_interval, wake_ups));
    let worker = WorkerBuilder::new(name)
        .backend(backend)
        .data(handler)
        // Before the retries, so a retrying job keeps its one slot.
        .concurrency(config.concurrency)
        // In-process retries with exponential backoff, up to the budget;
        // `run_task` aborts the job on the last attempt.
        .retry(RetryPolicy::retries(config.max_attempts).with_backoff(backoff))
        .parallelize(tokio::spawn)
        .build(run_task::<H>);

    let stop = context.stop.clone();
    // Boxed as `dyn Future + Send` here, where the compiler can prove it:
    // left generic, the worker's future fails the `Send` check of an outer
    // `tokio::spawn` (a higher-ranked lifetime inference limitation).
    let mut run: Pin<Box<dyn Future<Output = Result<(), WorkerError>> + Send>> =
        Box::pin(worker.run_until(async move {
            stop.cancelled().await;
            Ok::<(), std::io::Error>(())
        }));
    // The worker waits for in-flight jobs without limit; bound the drain.
    let stop = context.stop.clone();
    let drain = config.drain;
    let deadline = async move {
        stop.cancelled().await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = &mut run => {
            result.map_err(|e| anyhow::anyhow!("{e}"))?;
            backend::deregister(&app.redis, &queue, name).await;
            Ok(())
        }
        () = deadline => {
            tracing::warn!(worker = %name, timeout_secs = drain.as_secs(), "drain time over; jobs still running will be re-run by another worker");
            Ok(())
        }
    }
}

/// The apalis handler around [`Handler::handle`]: decodes the job and
/// decides between retrying and giving up.
async fn run_task<H: Handler>(
    job: serde_json::Value,
    registered: Data<Arc<Registered<H>>>,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let queue = registered.queue.clone();
    let job: H::Job = match serde_json::from_value(job) {
        Ok(job) => job,
        Err(e) => {
            tracing::error!(queue = %queue, error = %e, "undecodable job; aborted");
            metrics::counter!("jobs_aborted_total", "queue" => queue, "reason" => "undecodable")
                .increment(1);
            return Err(AbortError::new(e).into());
        }
    };
    let id = job.id();
    match registered.handler.handle(job).await {
        Ok(()) => {
            metrics::counter!("jobs_done_total", "queue" => queue).increment(1);
            Ok(())
        }
        Err(JobError::Abort(e)) => {
            tracing::error!(queue = %queue, job = %id, error = %format!("{e:#}"), "job aborted");
            metrics::counter!("jobs_aborted_total", "queue" => queue, "reason" => "handler")
                .increment(1);
            Err(AbortError::new(JobError::Abort(e)).into())
        }
        Err(JobError::Retry(e)) if attempt.current() >= registered.max_attempts => {
            tracing::error!(queue = %queue, job = %id, attempts = attempt.current(), error = %format!("{e:#}"), "job aborted: retry budget spent");
            metrics::counter!("jobs_aborted_total", "queue" => queue, "reason" => "retries_exhausted")
                .increment(1);
            Err(AbortError::new(JobError::Retry(e)).into())
        }
        Err(JobError::Retry(e)) => {
            tracing::warn!(queue = %queue, job = %id, attempt = attempt.current(), error = %format!("{e:#}"), "job failed; will retry");
            metrics::counter!("jobs_retried_total", "queue" => queue).increment(1);
            Err(JobError::Retry(e).into())
        }
    }
}

/// Housekeeping: apalis keeps every finished job in Redis forever.
struct PruneFinished {
    app: App,
    queues: Vec<String>,
    interval: Duration,
}

impl Periodic for PruneFinished {
    const NAME: &'static str = "prune finished jobs";
    const DONE: &'static str = "finished jobs removed from Redis";

    fn period(&self) -> Duration {
        self.interval
    }

    async fn tick(&self) -> anyhow::Result<u64> {
        let mut removed = 0;
        for queue in &self.queues {
            loop {
                let batch = crate::queue::prune_finished_tasks(&self.app.redis, queue, PRUNE_BATCH)
                    .await
                    .with_context(|| format!("pruning the finished jobs of {queue}"))?;
                removed += batch as u64;
                if batch < PRUNE_BATCH {
                    break;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_process_start_gets_a_new_name() {
        let first = worker_name("beacon-worker", Some("e82"));
        let second = worker_name("beacon-worker", Some("e82"));
        assert!(first.starts_with("beacon-worker-e82-"));
        assert_ne!(first, second);
    }

    #[test]
    fn a_draining_worker_is_not_taken_for_dead() {
        let env = Env::from_pairs(&[]);
        let platform = PlatformConfig::from_env(&env).expect("defaults");
        let config = JobHostConfig::from_env(&env, &platform).expect("defaults");
        assert_eq!(config.orphan_timeout(), Duration::from_secs(30));
        assert!(config.drain < config.orphan_timeout());
    }
}
