//! The Postgres pool, and the schema as one migrator made of each domain's
//! migrations.

use std::time::Duration;

use sqlx::{
    Connection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseConfig;

/// A connection idle for longer than this is pinged before it is used.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// A pool that connects on first use, so a process starts (and answers
/// liveness) while Postgres is still coming up; readiness reports the outage.
///
/// Only a connection that sat idle can have died unnoticed (a Postgres restart
/// or failover), so only those are pinged before use; sqlx's default pings
/// every connection on every acquire, a round trip per query.
pub fn connect_lazy(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = config.url.expose().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .max_lifetime(config.max_lifetime)
        .idle_timeout(config.idle_timeout)
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

/// One migrator from several sets (the skeleton's, then each domain's),
/// applied in version order. Versions must be unique across the sets: new
/// migrations take a timestamp (`sqlx migrate add -r --source <folder> …`).
pub fn migrator(sets: &[&Migrator]) -> Migrator {
    Migrator::with_migrations(sets.iter().flat_map(|set| set.iter().cloned()).collect())
}

/// Pool usage, sampled when `/metrics` is scraped: always current, no task.
pub fn record_pool_gauges(db: &PgPool) {
    let size = db.size();
    let idle = u32::try_from(db.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("db_pool_max_connections").set(f64::from(db.options().get_max_connections()));
}
