//! What every handler can reach.

use std::{ops::Deref, sync::Arc};

use apalis_redis::RedisStorage;
use common::jobs::CheckMonitor;
use redis::aio::ConnectionManager;
use sqlx::PgPool;

use tokio::sync::watch;

use crate::{
    auth::{rate_limit::LoginLimiter, session::SessionKeys},
    config::ApiConfig,
    live::hub::EventHub,
};

/// Cloned for every request (axum hands each handler and each `from_fn`
/// layer its own copy), so a clone is one reference count, not one per
/// handle: cloning the handles themselves measured ~6 % of the CPU of
/// `GET /api/health` under load.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<ApiConfig>,
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub nats: async_nats::Client,
    /// Where "check now" queues [`CheckMonitor`] jobs.
    pub checks: RedisStorage<CheckMonitor>,
    pub sessions: Arc<SessionKeys>,
    pub login_limiter: Arc<LoginLimiter>,
    /// This machine's SSE streams, fed from NATS.
    pub live: Arc<EventHub>,
    /// Turns true when the server starts shutting down.
    pub stopping: watch::Receiver<bool>,
}
