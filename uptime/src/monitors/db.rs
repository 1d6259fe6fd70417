//! Every query on the `monitors` table, for the api and the worker alike.
//! Functions take any executor, so they run on the pool or inside a
//! transaction. Queries on a user's behalf are scoped by `user_id`: a monitor
//! that belongs to someone else is indistinguishable from one that does not
//! exist.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::MonitorSettings;
use crate::model::{HttpMethod, MonitorState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Monitor {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub method: HttpMethod,
    pub interval_seconds: i32,
    pub timeout_ms: i32,
    pub expected_status: i32,
    pub state: MonitorState,
    #[serde(serialize_with = "platform::time::serialize_option")]
    pub last_checked_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "platform::time::serialize")]
    pub next_check_at: DateTime<Utc>,
    #[serde(serialize_with = "platform::time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "platform::time::serialize")]
    pub updated_at: DateTime<Utc>,
}

pub async fn count_for_user(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM monitors WHERE user_id = $1"#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Inserts the monitor unless the user has `cap` already; `None` then.
/// The count and the insert run under a lock on the user's row, so
/// parallel creates cannot each see room for one more.
pub async fn insert_within(
    db: &PgPool,
    user_id: Uuid,
    settings: &MonitorSettings,
    cap: i64,
) -> sqlx::Result<Option<Monitor>> {
    let mut tx = db.begin().await?;
    // NO KEY UPDATE: it queues parallel creates of this user, yet does not
    // block inserts elsewhere that only reference the row.
    sqlx::query!(
        "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE",
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if count_for_user(&mut *tx, user_id).await? >= cap {
        return Ok(None);
    }
    let monitor = insert(&mut *tx, user_id, settings).await?;
    tx.commit().await?;
    Ok(Some(monitor))
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
           RETURNING id, name, url, method AS "method: HttpMethod", interval_seconds, timeout_ms,
                     expected_status, state AS "state: MonitorState", last_checked_at,
                     next_check_at, created_at, updated_at"#,
        Uuid::now_v7(),
        user_id,
        settings.name,
        settings.url,
        settings.method as HttpMethod,
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
        r#"SELECT id, name, url, method AS "method: HttpMethod", interval_seconds, timeout_ms,
                  expected_status, state AS "state: MonitorState", last_checked_at,
                  next_check_at, created_at, updated_at
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
        r#"SELECT id, name, url, method AS "method: HttpMethod", interval_seconds, timeout_ms,
                  expected_status, state AS "state: MonitorState", last_checked_at,
                  next_check_at, created_at, updated_at
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
           RETURNING id, name, url, method AS "method: HttpMethod", interval_seconds, timeout_ms,
                     expected_status, state AS "state: MonitorState", last_checked_at,
                     next_check_at, created_at, updated_at"#,
        user_id,
        id,
        settings.name,
        settings.url,
        settings.method as HttpMethod,
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

/// What a check probes.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub method: HttpMethod,
    pub timeout_ms: i32,
    pub expected_status: i32,
}

/// `None` when the monitor was deleted after its check was queued.
pub async fn target(db: impl PgExecutor<'_>, monitor_id: Uuid) -> sqlx::Result<Option<Target>> {
    sqlx::query_as!(
        Target,
        r#"SELECT url, method AS "method: HttpMethod", timeout_ms, expected_status
           FROM monitors WHERE id = $1"#,
        monitor_id
    )
    .fetch_optional(db)
    .await
}

/// The monitor's row, locked until the transaction ends, so two checks of
/// one monitor finishing together move its light one after the other.
pub struct Locked {
    pub user_id: Uuid,
    pub name: String,
    pub state: MonitorState,
    pub consecutive_failures: i32,
}

pub async fn lock_for_check(
    db: impl PgExecutor<'_>,
    monitor_id: Uuid,
) -> sqlx::Result<Option<Locked>> {
    sqlx::query_as!(
        Locked,
        r#"SELECT user_id, name, state AS "state: MonitorState", consecutive_failures
           FROM monitors WHERE id = $1 FOR UPDATE"#,
        monitor_id
    )
    .fetch_optional(db)
    .await
}

/// The light after a check.
pub async fn set_state(
    db: impl PgExecutor<'_>,
    monitor_id: Uuid,
    state: MonitorState,
    consecutive_failures: i32,
    checked_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"UPDATE monitors
           SET state = $2, consecutive_failures = $3,
               last_checked_at = greatest(last_checked_at, $4)
           WHERE id = $1"#,
        monitor_id,
        state as MonitorState,
        consecutive_failures,
        checked_at,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Claims up to `limit` monitors whose check is due and moves each one's
/// `next_check_at` on by its interval, in one statement. `SKIP LOCKED` lets
/// scaled-out workers claim side by side: a row one of them is claiming is
/// invisible to the others, and once claimed it is no longer due.
pub async fn claim_due(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"WITH due AS (
               SELECT id FROM monitors
               WHERE next_check_at <= now()
               ORDER BY next_check_at
               LIMIT $1
               FOR UPDATE SKIP LOCKED
           )
           UPDATE monitors m
           SET next_check_at = now() + interval '1 second' * m.interval_seconds
           FROM due WHERE m.id = due.id
           RETURNING m.id"#,
        limit
    )
    .fetch_all(db)
    .await
}
