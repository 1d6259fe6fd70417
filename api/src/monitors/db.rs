//! Monitor and check rows. Every query is scoped by `user_id`: a monitor that
//! belongs to someone else is indistinguishable from one that does not exist.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Monitor, MonitorSettings};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    pub id: Uuid,
    /// `schedule` or `manual`.
    pub trigger: String,
    pub ok: bool,
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    #[serde(serialize_with = "common::rfc3339::serialize")]
    pub checked_at: DateTime<Utc>,
}

pub async fn count_for_user(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM monitors WHERE user_id = $1"#,
        user_id
    )
    .fetch_one(db)
    .await
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    settings: &MonitorSettings,
) -> sqlx::Result<Monitor> {
    sqlx::query_as!(
        Monitor,
        r#"INSERT INTO monitors
               (id, user_id, name, url, method, interval_seconds, timeout_ms, expected_status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, name, url, method, interval_seconds, timeout_ms, expected_status,
                     state, last_checked_at, next_check_at, created_at, updated_at"#,
        Uuid::now_v7(),
        user_id,
        settings.name,
        settings.url,
        settings.method,
        settings.interval_seconds,
        settings.timeout_ms,
        settings.expected_status,
    )
    .fetch_one(db)
    .await
}

pub async fn list_for_user(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<Vec<Monitor>> {
    sqlx::query_as!(
        Monitor,
        r#"SELECT id, name, url, method, interval_seconds, timeout_ms, expected_status,
                  state, last_checked_at, next_check_at, created_at, updated_at
           FROM monitors WHERE user_id = $1
           ORDER BY created_at, id"#,
        user_id
    )
    .fetch_all(db)
    .await
}

pub async fn get(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<Monitor>> {
    sqlx::query_as!(
        Monitor,
        r#"SELECT id, name, url, method, interval_seconds, timeout_ms, expected_status,
                  state, last_checked_at, next_check_at, created_at, updated_at
           FROM monitors WHERE user_id = $1 AND id = $2"#,
        user_id,
        id
    )
    .fetch_optional(db)
    .await
}

/// A changed target (URL or method) makes the old state meaningless: the
/// light goes back to grey and the new target is checked at once.
pub async fn update(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
    settings: &MonitorSettings,
) -> sqlx::Result<Option<Monitor>> {
    sqlx::query_as!(
        Monitor,
        r#"UPDATE monitors SET
               name = $3,
               url = $4,
               method = $5,
               interval_seconds = $6,
               timeout_ms = $7,
               expected_status = $8,
               state = CASE WHEN url <> $4 OR method <> $5 THEN 'unknown' ELSE state END,
               consecutive_failures = CASE WHEN url <> $4 OR method <> $5 THEN 0 ELSE consecutive_failures END,
               next_check_at = CASE WHEN url <> $4 OR method <> $5 THEN now()
                                    ELSE least(next_check_at, now() + interval '1 second' * $6::integer) END
           WHERE user_id = $1 AND id = $2
           RETURNING id, name, url, method, interval_seconds, timeout_ms, expected_status,
                     state, last_checked_at, next_check_at, created_at, updated_at"#,
        user_id,
        id,
        settings.name,
        settings.url,
        settings.method,
        settings.interval_seconds,
        settings.timeout_ms,
        settings.expected_status,
    )
    .fetch_optional(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, user_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let result = sqlx::query!(
        "DELETE FROM monitors WHERE user_id = $1 AND id = $2",
        user_id,
        id
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Newest first, `limit` rows older than the check `before` (keyset
/// pagination: stable while new checks keep arriving).
pub async fn checks_page(
    db: impl PgExecutor<'_>,
    monitor_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Check>> {
    sqlx::query_as!(
        Check,
        r#"SELECT id, trigger, ok, status_code, latency_ms, error, checked_at
           FROM checks
           WHERE monitor_id = $1
             AND ($2::uuid IS NULL OR (checked_at, id) <
                  (SELECT c.checked_at, c.id FROM checks c WHERE c.id = $2 AND c.monitor_id = $1))
           ORDER BY checked_at DESC, id DESC
           LIMIT $3"#,
        monitor_id,
        before,
        limit
    )
    .fetch_all(db)
    .await
}
