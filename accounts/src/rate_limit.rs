//! Failed-login limit, kept in Redis so it holds across every API machine.
//!
//! Each email gets `LOGIN_MAX_FAILURES` failures per `LOGIN_LOCKOUT_SECS`
//! window, counted from the first failure; then logins for it answer 429 with
//! `Retry-After` until the window ends. A successful login clears the count.
//! When Redis cannot be asked, logins fail closed (503): an outage must not
//! switch brute-force protection off.

use std::time::Duration;

use redis::aio::ConnectionManager;

use platform::http::ApiError;

pub struct LoginLimiter {
    redis: ConnectionManager,
    max_failures: u32,
    window: Duration,
}

impl LoginLimiter {
    pub fn new(redis: ConnectionManager, max_failures: u32, window: Duration) -> Self {
        Self {
            redis,
            max_failures,
            window,
        }
    }

    fn key(email: &str) -> String {
        format!("beacon:login_failures:{email}")
    }

    /// Refuses with 429 while the email is locked out.
    pub async fn ensure_allowed(&self, email: &str) -> Result<(), ApiError> {
        let mut conn = self.redis.clone();
        let (failures, ttl): (Option<u32>, i64) = redis::pipe()
            .get(Self::key(email))
            .ttl(Self::key(email))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if failures.unwrap_or(0) >= self.max_failures {
            let retry_after = u64::try_from(ttl).unwrap_or(self.window.as_secs()).max(1);
            let retry_after = Duration::from_secs(retry_after);
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "too many failed login attempts; try again in {} seconds",
                    retry_after.as_secs()
                )
                .into(),
                retry_after,
            });
        }
        Ok(())
    }

    pub async fn record_failure(&self, email: &str) -> Result<(), ApiError> {
        let mut conn = self.redis.clone();
        // SET NX starts the window on the first failure; INCR keeps its TTL.
        // One MULTI, so a crash between the two cannot leave a key without TTL.
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(Self::key(email))
            .arg(0)
            .arg("EX")
            .arg(self.window.as_secs().max(1))
            .arg("NX")
            .ignore()
            .incr(Self::key(email), 1)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }

    pub async fn reset(&self, email: &str) -> Result<(), ApiError> {
        let mut conn = self.redis.clone();
        redis::cmd("DEL")
            .arg(Self::key(email))
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }
}

fn unavailable(e: redis::RedisError) -> ApiError {
    tracing::error!(error = %e, "login rate limiter cannot reach Redis");
    ApiError::unavailable(
        "rate_limiter_unavailable",
        "logins are paused: the rate limiter is unavailable; try again shortly",
    )
}
