//! Password hashing with argon2id (the `argon2` crate's default: m=19 MiB,
//! t=2, p=1, OWASP's recommendation). Hashing takes tens of milliseconds of
//! CPU, so it runs on the blocking pool, never on an async worker thread.

use std::{sync::LazyLock, time::Duration};

use anyhow::Context;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use axum::http::StatusCode;
use platform::{
    config::{ConfigError, Env},
    http::ApiError,
};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Each hash or verification holds argon2's 19 MiB while it runs; with
/// nothing to bound them, a burst of logins for made-up emails exhausts a
/// small VM's memory. So at most `PASSWORD_HASH_CONCURRENCY` run at once;
/// a caller waits up to `PASSWORD_HASH_WAIT_MS` for a turn, then gets 503
/// with `Retry-After` (never an unbounded queue).
pub struct Hasher {
    permits: Semaphore,
    wait: Duration,
}

impl Hasher {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let concurrency = env
            .var(
                "PASSWORD_HASH_CONCURRENCY",
                "password hashes (sign-up, log in) run at once, 19 MiB each; size it from the VM's memory",
            )
            .number(2, 1..=64)?;
        let wait = env
            .var(
                "PASSWORD_HASH_WAIT_MS",
                "how long a log in or sign-up waits for a hashing turn before 503",
            )
            .millis(2000, 0..=30_000)?;
        Ok(Self::new(concurrency, wait))
    }

    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Self {
            permits: Semaphore::new(concurrency),
            wait,
        }
    }

    async fn turn(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(self.wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("password_hash_refused_total").increment(1);
                Err(ApiError::too_many(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "too many logins at once; try again in a second",
                    Duration::from_secs(1),
                ))
            }
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _turn = self.turn().await?;
        let hashed = tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await
        .context("hashing task panicked")??;
        Ok(hashed)
    }

    /// `Ok(false)` for a wrong password or a missing account (`stored = None`).
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let _turn = self.turn().await?;
        let verified = tokio::task::spawn_blocking(move || verify_blocking(&password, stored))
            .await
            .context("verification task panicked")??;
        Ok(verified)
    }
}

/// A hash to verify against when the email is unknown, so a login for a
/// missing account takes as long as one with a wrong password and response
/// times do not reveal which emails have accounts.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"beacon-dummy-password", &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

fn verify_blocking(password: &str, stored: Option<String>) -> anyhow::Result<bool> {
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
    let parsed =
        PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    Ok(known && matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Hasher {
        Hasher::new(2, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = hasher();
        let hashed = hasher.hash("correct horse".into()).await.expect("hash");
        assert!(hashed.starts_with("$argon2id$"));
        assert!(
            hasher
                .verify("correct horse".into(), Some(hashed.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("wrong horse".into(), Some(hashed))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        assert!(
            !hasher()
                .verify("beacon-dummy-password".into(), None)
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn callers_beyond_the_bound_wait_then_get_503() {
        let hasher = Hasher::new(1, Duration::from_millis(50));
        let _held = hasher.turn().await.expect("the one turn");
        let refused = hasher.hash("correct horse".into()).await.expect_err("busy");
        let response = axum::response::IntoResponse::into_response(refused);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
    }
}
