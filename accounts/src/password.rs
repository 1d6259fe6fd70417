//! Password hashing with argon2id (the `argon2` crate's default: m=19 MiB,
//! t=2, p=1, OWASP's recommendation). Hashing takes tens of milliseconds of
//! CPU, so it runs on the blocking pool, never on an async worker thread.

use std::sync::LazyLock;

use anyhow::Context;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await
    .context("hashing task panicked")?
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

/// `Ok(false)` for a wrong password or a missing account (`stored = None`).
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .context("verification task panicked")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hashed = hash("correct horse".into()).await.expect("hash");
        assert!(hashed.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(hashed.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify("wrong horse".into(), Some(hashed))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        assert!(
            !verify("beacon-dummy-password".into(), None)
                .await
                .expect("verify")
        );
    }
}
