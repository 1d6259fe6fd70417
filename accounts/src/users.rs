//! Account rows. Functions take any executor, so they run on the pool or
//! inside a transaction alike.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    #[serde(serialize_with = "platform::time::serialize")]
    pub created_at: DateTime<Utc>,
    /// When the welcome job ran for the account; null until it has.
    #[serde(serialize_with = "platform::time::serialize_option")]
    pub welcomed_at: Option<DateTime<Utc>>,
}

pub struct Credentials {
    pub id: Uuid,
    pub password_hash: String,
}

/// `Ok(None)` when the email is taken.
pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    password_hash: &str,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
           ON CONFLICT ON CONSTRAINT users_email_key DO NOTHING
           RETURNING id, email, created_at, welcomed_at"#,
        Uuid::now_v7(),
        email,
        password_hash
    )
    .fetch_optional(db)
    .await
}

pub async fn credentials_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        "SELECT id, password_hash FROM users WHERE email = $1",
        email
    )
    .fetch_optional(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        "SELECT id, email, created_at, welcomed_at FROM users WHERE id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Marks the account welcomed, once: the account the first time, `None`
/// after (or when the account is gone).
pub async fn mark_welcomed(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        "UPDATE users SET welcomed_at = now() WHERE id = $1 AND welcomed_at IS NULL
         RETURNING id, email, created_at, welcomed_at",
        id
    )
    .fetch_optional(db)
    .await
}
