//! Rate limits kept in Redis, so they hold across every machine.
//!
//! A limit is a fixed window: at most `max` hits per `window`, counted from
//! the first. [`Limiter::hit`] checks every limit it is given and counts the
//! hit against all of them in one Lua script, so parallel requests cannot
//! all slip through between a check and a count: with a limit of 5, exactly
//! 5 of 30 simultaneous attempts pass. A hit refused by one limit is counted
//! by none.
//!
//! When Redis cannot be asked, hits are refused (503): an outage must not
//! switch abuse protection off.

use std::{sync::LazyLock, time::Duration};

use redis::{Script, aio::ConnectionManager};

use crate::http::ApiError;

/// One counter: its Redis key (under the limiter's prefix), its maximum and
/// its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub fn new(key: impl Into<String>, max: u32, window: Duration) -> Self {
        Self {
            key: key.into(),
            max,
            window,
        }
    }

    /// `max` of `what` per `window` for one user, across every machine.
    pub fn per_user(what: &str, user_id: uuid::Uuid, max: u32, window: Duration) -> Self {
        Self::new(format!("{what}:{user_id}"), max, window)
    }
}

/// KEYS: the counters; ARGV: max and window (ms) per counter. Returns 0
/// when the hit was counted, else the milliseconds until the longest of the
/// exhausted windows ends.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local wait = 0
        for i, key in ipairs(KEYS) do
            local count = tonumber(redis.call('GET', key) or '0')
            if count >= tonumber(ARGV[2 * i - 1]) then
                local ttl = redis.call('PTTL', key)
                if ttl < 1 then ttl = 1 end
                if ttl > wait then wait = ttl end
            end
        end
        if wait > 0 then return wait end
        for i, key in ipairs(KEYS) do
            if redis.call('INCR', key) == 1 then
                redis.call('PEXPIRE', key, ARGV[2 * i])
            end
        end
        return 0
        ",
    )
});

/// Takes back one hit from each counter that still exists (a missing one
/// stays missing: DECR would create it without an expiry).
static REFUND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        for _, key in ipairs(KEYS) do
            if (tonumber(redis.call('GET', key) or '0')) > 0 then
                redis.call('DECR', key)
            end
        end
        return 0
        ",
    )
});

/// Counts hits in Redis under `<prefix>:limit:`. Cloning is cheap.
#[derive(Clone)]
pub struct Limiter {
    redis: ConnectionManager,
    prefix: String,
}

/// Refused: a limit is exhausted until `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub retry_after: Duration,
}

impl Limiter {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            prefix: format!("{prefix}:limit:"),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Counts one hit against every limit, or against none when any of them
    /// is exhausted.
    pub async fn hit(&self, limits: &[Limit]) -> Result<Result<(), Exhausted>, ApiError> {
        let mut invocation = HIT.prepare_invoke();
        for limit in limits {
            invocation
                .key(self.key(&limit.key))
                .arg(limit.max)
                .arg(limit.window.as_millis().max(1) as u64);
        }
        let wait_ms: u64 = invocation
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(match wait_ms {
            0 => Ok(()),
            ms => Err(Exhausted {
                // Whole seconds, rounded up: Retry-After has no fractions.
                retry_after: Duration::from_secs(ms.div_ceil(1000)),
            }),
        })
    }

    /// [`Limiter::hit`], refused as 429 with `Retry-After` and `message`
    /// (which may use `{secs}`).
    pub async fn check(&self, limits: &[Limit], message: &str) -> Result<(), ApiError> {
        self.hit(limits).await?.map_err(|exhausted| {
            let secs = exhausted.retry_after.as_secs().max(1);
            ApiError::rate_limited(
                message.replace("{secs}", &secs.to_string()),
                Duration::from_secs(secs),
            )
        })
    }

    /// Gives back one hit to each of these counters.
    pub async fn refund(&self, keys: &[&str]) -> Result<(), ApiError> {
        let mut invocation = REFUND.prepare_invoke();
        for key in keys {
            invocation.key(self.key(key));
        }
        invocation
            .invoke_async::<()>(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }

    /// Starts these counters over.
    pub async fn reset(&self, keys: &[&str]) -> Result<(), ApiError> {
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(&mut self.redis.clone())
            .await
            .map_err(unavailable)
    }
}

/// The 503 for a limit that cannot be checked.
pub fn unavailable(e: redis::RedisError) -> ApiError {
    tracing::error!(error = %e, "the rate limiter cannot reach Redis");
    ApiError::unavailable(
        "rate_limiter_unavailable",
        "the rate limiter is unavailable, so this is paused; try again shortly",
    )
}
