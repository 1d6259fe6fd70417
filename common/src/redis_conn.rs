//! The Redis connection shared by the job queue and the login rate limit.

use std::time::Duration;

use redis::{Client, aio::ConnectionManager, aio::ConnectionManagerConfig};

use crate::config::Secret;

/// redis-rs gives up on a reply after 500 ms by default; a busy Upstash
/// instance or a blocking queue script can take longer, and a timed-out reply
/// would surface as a failed enqueue.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection manager that reconnects by itself and connects on first use,
/// so a process starts while Redis is down and recovers when it returns.
pub fn connect_lazy(url: &Secret) -> redis::RedisResult<ConnectionManager> {
    let client = Client::open(url.expose())?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Readiness probe: one PING.
pub async fn ping(conn: &ConnectionManager) -> redis::RedisResult<()> {
    let mut conn = conn.clone();
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(|_| ())
}
