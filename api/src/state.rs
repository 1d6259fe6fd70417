//! What every handler can reach. Cloned per request: every field is a handle.

use std::sync::Arc;

use apalis_redis::RedisStorage;
use common::jobs::CheckMonitor;
use redis::aio::ConnectionManager;
use sqlx::PgPool;

use crate::{
    auth::{rate_limit::LoginLimiter, session::SessionKeys},
    config::ApiConfig,
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
}
