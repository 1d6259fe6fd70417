//! The app: what every part of a process shares, built once at start-up by
//! the api and by the worker alike. This is the composition root: handlers,
//! jobs and periodic tasks reach Postgres, Redis, NATS, the job queues, the
//! rate limits and the settings through it, and nothing else opens them.

use std::sync::Arc;

use anyhow::Context;
use redis::aio::ConnectionManager;
use sqlx::PgPool;

use crate::{
    config::{Env, PlatformConfig},
    connections, db,
    limit::Limiter,
    queue::Queues,
};

/// The process's shared handles, behind one `Arc`: handlers' states are
/// cloned for every request, and cloning each handle (the NATS client's most
/// of all) cost more than the request itself.
#[derive(Clone)]
pub struct App(Arc<AppParts>);

pub struct AppParts {
    /// The variables the process started with: each area and job reads its
    /// own settings from them.
    pub env: Env,
    pub config: PlatformConfig,
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub nats: async_nats::Client,
    /// Where jobs are queued.
    pub queues: Queues,
    /// Rate limits, counted in the same Redis under the same prefix.
    pub limits: Limiter,
}

impl std::ops::Deref for App {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl App {
    /// Opens Postgres, Redis and NATS, all three lazily: a dependency that is
    /// down fails readiness, not start-up. `name` is how this process appears
    /// in NATS' connection list; use [`PlatformConfig::process_name`].
    pub async fn connect(env: Env, config: PlatformConfig, name: &str) -> anyhow::Result<Self> {
        let db = db::connect_lazy(&config.database)
            .context("DATABASE_URL is not a usable Postgres URL")?;
        let redis = connections::connect_redis(&config.redis_url)
            .context("REDIS_URL is not a usable Redis URL")?;
        let nats = connections::connect_nats(&config.nats_url, name)
            .await
            .context("NATS_URL is not a usable NATS URL")?;
        let queues = Queues::new(redis.clone(), nats.clone(), &config.queue_prefix);
        let limits = Limiter::new(redis.clone(), &config.queue_prefix);
        Ok(Self(Arc::new(AppParts {
            env,
            config,
            db,
            redis,
            nats,
            queues,
            limits,
        })))
    }
}
