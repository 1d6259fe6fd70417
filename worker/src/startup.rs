//! Building and running the worker: connections, the check worker, the
//! scheduler, retention and the HTTP port, all stopped by one signal.

use std::{future::Future, net::Ipv6Addr, sync::Arc};

use anyhow::Context;
use apalis_redis::ConnectionManager;
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    config::WorkerConfig,
    http::{self, HttpState},
    job::CheckDeps,
    outbound::TargetPolicy,
    probe::Prober,
    retention, scheduler, supervisor,
};

pub struct Worker {
    config: WorkerConfig,
    db: PgPool,
    redis: ConnectionManager,
    nats: async_nats::Client,
    listener: TcpListener,
    name: String,
}

impl Worker {
    pub async fn build(config: WorkerConfig) -> anyhow::Result<Self> {
        let db = common::db::connect_lazy(&config.common.database)
            .context("DATABASE_URL is not a usable Postgres URL")?;
        let redis = common::redis_conn::connect_lazy(&config.common.redis_url)
            .context("REDIS_URL is not a usable Redis URL")?;
        let name = supervisor::base_name(config.common.fly.machine_id.as_deref());
        let nats = common::nats::connect(&config.common.nats_url, &name)
            .await
            .context("NATS_URL is not a usable NATS URL")?;
        // Bind [::]: Fly's checks and metrics scraper come over IPv6.
        let listener = TcpListener::bind((Ipv6Addr::UNSPECIFIED, config.port))
            .await
            .with_context(|| {
                format!("cannot listen on [::]:{} (set by WORKER_PORT)", config.port)
            })?;
        Ok(Self {
            config,
            db,
            redis,
            nats,
            listener,
            name,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Runs until `shutdown` completes (then drains and returns `Ok`) or the
    /// check worker gives up (then returns `Err`: exit non-zero).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let config = self.config;
        tracing::info!(
            worker = %self.name,
            port = self.listener.local_addr().map(|a| a.port()).unwrap_or(0),
            queue = %config.check_queue,
            concurrency = config.concurrency,
            poll_interval_ms = config.poll_interval.as_millis(),
            orphan_timeout_secs = config.orphan_timeout().as_secs(),
            "worker starting"
        );
        let (stop, stopped) = watch::channel(false);

        let http_state = HttpState {
            db: self.db.clone(),
            redis: self.redis.clone(),
            nats: self.nats.clone(),
            queue: config.check_queue.as_str().into(),
            readiness_timeout: config.readiness_timeout,
            metrics: common::metrics::handle(),
        };
        let mut http_stopped = stopped.clone();
        let http = tokio::spawn(
            axum::serve(self.listener, http::router(http_state))
                .with_graceful_shutdown(async move {
                    let _ = http_stopped.wait_for(|s| *s).await;
                })
                .into_future(),
        );
        let scheduler = tokio::spawn(scheduler::run(
            self.db.clone(),
            common::jobs::check_storage(self.redis.clone(), &config.check_queue),
            self.nats.clone(),
            config.check_queue.clone(),
            config.scheduler_tick,
            config.scheduler_batch,
            stopped.clone(),
        ));
        let retention = tokio::spawn(retention::run(
            self.db.clone(),
            self.redis.clone(),
            config.check_queue.clone(),
            config.check_retention,
            config.retention_tick,
            stopped.clone(),
        ));
        let deps = Arc::new(CheckDeps {
            db: self.db.clone(),
            nats: self.nats.clone(),
            prober: Prober::new(
                TargetPolicy {
                    allow_private: config.allow_private_targets,
                    exceptions: Vec::new(),
                },
                config.max_redirects,
            )?,
            thresholds: config.thresholds,
            max_attempts: config.max_attempts,
        });
        let checks =
            supervisor::run_check_worker(&config, &self.name, deps, self.redis.clone(), stopped);
        tokio::pin!(checks);

        let result = tokio::select! {
            () = shutdown => {
                let _ = stop.send(true);
                checks.await
            }
            result = &mut checks => result,
        };
        let _ = stop.send(true);
        let _ = tokio::join!(scheduler, retention, http);
        // Whatever the worker published is on its way before the process
        // goes; bounded, because a flush waits for a NATS that may be down.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.nats.flush()).await;
        match &result {
            Ok(()) => tracing::info!("worker stopped"),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "worker gave up"),
        }
        result
    }
}
