//! What every handler can reach. Cloned per request: every field is a handle.

use std::sync::Arc;

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

#[derive(Clone)]
pub struct AppState {
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
