//! Building and running the worker: connections, the job host with every
//! registered job, and the private HTTP port (`/health`, `/ready`,
//! `/metrics`), all stopped by one signal.

use std::{future::Future, time::Duration};

use axum::{Router, routing::get};
use platform::{
    app::App,
    config::{ConfigError, Env, PlatformConfig},
    health,
    jobs::{JobHost, JobHostConfig, worker_name},
    service::Service,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The worker's own settings; each domain reads its own when its jobs are
/// registered.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub platform: PlatformConfig,
    pub host: JobHostConfig,
    /// `/health`, `/ready` and `/metrics` on `[::]`.
    pub port: u16,
}

impl WorkerSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let platform = PlatformConfig::from_env(env)?;
        Ok(Self {
            host: JobHostConfig::from_env(env, &platform)?,
            port: env
                .var(
                    "WORKER_PORT",
                    "the worker's `/health`, `/ready` and `/metrics` port, on `[::]`",
                )
                .port(9092)?,
            platform,
        })
    }
}

pub struct Worker {
    host: JobHost,
    listener: TcpListener,
    router: Router,
    name: String,
}

impl Worker {
    /// Everything served on `WORKER_PORT`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

impl Service for Worker {
    async fn build(env: Env) -> anyhow::Result<Self> {
        let settings = WorkerSettings::from_env(&env)?;
        let name = worker_name("beacon-worker", settings.platform.fly.machine_id.as_deref());
        let app = App::connect(env, settings.platform, &name).await?;
        let mut host = JobHost::new(app.clone(), settings.host);
        crate::jobs::register(&mut host)?;
        // Fly's checks and metrics scraper come over 6PN (IPv6).
        let listener = platform::http::bind(settings.port, "WORKER_PORT").await?;
        // The worker has no Fly services: nothing public ever reaches this.
        let router = Router::new()
            .route("/health", get(health::health))
            .route("/ready", get(health::ready))
            .with_state(app.clone())
            .merge(platform::metrics::routes(&app, host.queue_names()));
        Ok(Self {
            host,
            listener,
            router,
            name,
        })
    }

    /// Runs until `shutdown` completes (then drains and returns `Ok`) or a
    /// queue's worker gives up (then returns `Err`: exit non-zero).
    async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = self.host.app().clone();
        let config = self.host.config().clone();
        tracing::info!(
            worker = %self.name,
            port = self.port(),
            queues = ?self.host.queue_names(),
            concurrency = config.concurrency,
            poll_interval_ms = config.poll_interval.as_millis(),
            orphan_timeout_secs = config.orphan_timeout().as_secs(),
            "worker starting"
        );
        let stop = CancellationToken::new();
        let http = tokio::spawn(platform::http::serve(
            vec![(self.listener, self.router)],
            std::future::pending(),
            platform::http::Serving {
                stopping: stop.clone(),
                drain: config.drain,
                idle_timeout: app.config.idle_timeout,
            },
        ));
        let jobs = self.host.run(&self.name, stop.clone());
        tokio::pin!(jobs);
        let result = tokio::select! {
            () = shutdown => {
                stop.cancel();
                jobs.await
            }
            result = &mut jobs => result,
        };
        stop.cancel();
        let _ = http.await;
        // Whatever the worker published is on its way before the process
        // goes; bounded, because a flush waits for a NATS that may be down.
        let _ = tokio::time::timeout(Duration::from_secs(2), app.nats.flush()).await;
        match &result {
            Ok(()) => tracing::info!("worker stopped"),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "worker gave up"),
        }
        result
    }
}
