//! Password hashing with argon2id (the `argon2` crate's default: m=19 MiB,
//! t=2, p=1, OWASP's recommendation). Hashing takes tens of milliseconds of
//! CPU, so it runs on the blocking pool, never on an async worker thread.
//!
//! Each hash needs its 19 MiB of memory while it runs. With nothing to bound
//! them, a burst of logins for made-up emails exhausts a small VM; and
//! letting argon2 allocate and free its 19 MiB per hash is no better: glibc
//! keeps what was freed, and 24 logins left the api at 243 MB with one hash
//! at a time, 497 MB with two. So at most `PASSWORD_HASH_CONCURRENCY` hashes
//! run at once, each on a block of memory allocated once and reused, and the
//! memory they can take is that number times 19 MiB, for good. A caller
//! waits up to `PASSWORD_HASH_WAIT_MS` for a turn, then gets 503 with
//! `Retry-After` (never an unbounded queue).

use std::{
    sync::{Mutex, OnceLock, PoisonError},
    time::Duration,
};

use anyhow::Context;
use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, ParamsString, SaltString, rand_core::OsRng},
};
use platform::{
    config::{ConfigError, Env},
    http::ApiError,
};
use tokio::sync::Semaphore;

/// One argon2 memory: `Params::default().block_count()` blocks of 1 KiB.
type Memory = Vec<Block>;

pub struct Hasher {
    permits: Semaphore,
    /// As many memories as permits, once each has been used.
    memories: Mutex<Vec<Memory>>,
    wait: Duration,
}

impl Hasher {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let concurrency = env
            .var(
                "PASSWORD_HASH_CONCURRENCY",
                "password hashes (sign-up, log in) run at once, 19 MiB each, held for good; size it from the VM's memory",
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
            memories: Mutex::new(Vec::with_capacity(concurrency)),
            wait,
        }
    }

    /// Runs `work` on the blocking pool with a memory of its own, once a
    /// turn is free; 503 when none is within the wait.
    async fn with_memory<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let Ok(Ok(_turn)) = tokio::time::timeout(self.wait, self.permits.acquire()).await else {
            metrics::counter!("password_hash_refused_total").increment(1);
            return Err(ApiError::busy(
                "busy",
                "too many logins at once; try again in a second",
                Duration::from_secs(1),
            ));
        };
        let memory = self
            .memories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| vec![Block::default(); Params::default().block_count()]);
        let (result, memory) = tokio::task::spawn_blocking(move || {
            let mut memory = memory;
            (work(&mut memory), memory)
        })
        .await
        .context("hashing task panicked")?;
        self.memories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        Ok(result?)
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.with_memory(move |memory| hash_blocking(&password, memory))
            .await
    }

    /// `Ok(false)` for a wrong password or a missing account (`stored = None`).
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        self.with_memory(move |memory| {
            let known = stored.is_some();
            let stored = match &stored {
                Some(stored) => stored,
                None => DUMMY_HASH.get_or_init(|| {
                    hash_blocking("beacon-dummy-password", memory).unwrap_or_default()
                }),
            };
            Ok(verify_blocking(&password, stored, memory)? && known)
        })
        .await
    }
}

/// A hash to verify against when the email is unknown, so a login for a
/// missing account takes as long as one with a wrong password and response
/// times do not reveal which emails have accounts.
static DUMMY_HASH: OnceLock<String> = OnceLock::new();

/// What `argon2`'s `PasswordHasher` does, on our memory: a PHC string.
fn hash_blocking(password: &str, memory: &mut Memory) -> anyhow::Result<String> {
    let params = Params::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, memory)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// What `argon2`'s `PasswordVerifier` does, on our memory: the stored hash's
/// own algorithm, version, parameters and salt, compared in constant time.
fn verify_blocking(password: &str, stored: &str, memory: &mut Memory) -> anyhow::Result<bool> {
    let malformed = |e: &dyn std::fmt::Display| anyhow::anyhow!("stored hash is malformed: {e}");
    let parsed = PasswordHash::new(stored).map_err(|e| malformed(&e))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| malformed(&e))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| malformed(&e))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| malformed(&e))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(malformed(&"no salt or no hash"));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| malformed(&e))?;
    // A hash made with more memory than ours needs its own (never by Beacon).
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, &mut memory[..])
        .map_err(|e| anyhow::anyhow!("verification failed: {e}"))?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(|e| malformed(&e))? == expected)
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
    async fn hashes_made_by_argon2s_own_hasher_verify() {
        use argon2::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let stock = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .expect("hash")
            .to_string();
        let hasher = hasher();
        assert!(
            hasher
                .verify("correct horse".into(), Some(stock.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("wrong horse".into(), Some(stock))
                .await
                .expect("verify")
        );
        // And ours verify with argon2's own verifier.
        let ours = hasher.hash("correct horse".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(
            argon2::PasswordVerifier::verify_password(
                &Argon2::default(),
                b"correct horse",
                &parsed
            )
            .is_ok()
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
        let _held = hasher.permits.acquire().await.expect("the one turn");
        let refused = hasher.hash("correct horse".into()).await.expect_err("busy");
        let response = axum::response::IntoResponse::into_response(refused);
        assert_eq!(
            response.status(),
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(response.headers()["retry-after"], "1");
    }
}
