//! The Postgres pool and the migrations embedded in every binary.

use std::time::Duration;

use sqlx::{
    Connection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseConfig;

/// Every migration in `migrations/`, compiled into the binary so a release
/// command needs nothing but the image.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A connection idle for longer than this is pinged before it is used.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// A pool that connects on first use, so the API starts (and answers liveness)
/// while Postgres is still coming up; readiness reports the outage instead.
///
/// sqlx pings every connection when it goes back to the pool and, by default,
/// again when it comes out: under load that second round trip was a third of
/// the api's Postgres traffic (strace on `GET /api/monitors`: Sync, query,
/// Sync). Only a connection that sat idle can have died unnoticed since
/// (a Postgres restart or failover), so only those are pinged first.
pub fn connect_lazy(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = config.url.expose().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}
