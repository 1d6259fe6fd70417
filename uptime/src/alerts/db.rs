//! Every query on the `webhooks` and `alerts` tables.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{AlertKind, AlertStatus, MonitorState, WebhookFormat};

/// Where an account's alerts go.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub url: String,
    pub format: WebhookFormat,
    #[serde(serialize_with = "platform::time::serialize")]
    pub updated_at: DateTime<Utc>,
}

pub async fn webhook(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<Option<Webhook>> {
    sqlx::query_as!(
        Webhook,
        r#"SELECT url, format AS "format: WebhookFormat", updated_at
           FROM webhooks WHERE user_id = $1"#,
        user_id
    )
    .fetch_optional(db)
    .await
}

pub async fn set_webhook(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    url: &str,
    format: WebhookFormat,
) -> sqlx::Result<Webhook> {
    sqlx::query_as!(
        Webhook,
        r#"INSERT INTO webhooks (user_id, url, format) VALUES ($1, $2, $3)
           ON CONFLICT (user_id) DO UPDATE SET url = EXCLUDED.url, format = EXCLUDED.format
           RETURNING url, format AS "format: WebhookFormat", updated_at"#,
        user_id,
        url,
        format as WebhookFormat,
    )
    .fetch_one(db)
    .await
}

pub async fn delete_webhook(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<bool> {
    let result = sqlx::query!("DELETE FROM webhooks WHERE user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// An alert as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub monitor_id: Uuid,
    pub monitor_name: String,
    pub check_id: Uuid,
    pub kind: AlertKind,
    pub status: AlertStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(serialize_with = "platform::time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "platform::time::serialize_option")]
    pub sent_at: Option<DateTime<Utc>>,
}

/// The user's newest alerts, newest first.
pub async fn recent(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Alert>> {
    sqlx::query_as!(
        Alert,
        r#"SELECT a.id, a.monitor_id, m.name AS monitor_name, a.check_id,
                  a.kind AS "kind: AlertKind", a.status AS "status: AlertStatus",
                  a.attempts, a.last_error, a.created_at, a.sent_at
           FROM alerts a JOIN monitors m ON m.id = a.monitor_id
           WHERE m.user_id = $1
           ORDER BY a.created_at DESC, a.id DESC
           LIMIT $2"#,
        user_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Records an alert for the check that changed a monitor's light, when its
/// owner has a webhook; the new alert's id, `None` when there is nowhere to
/// send it. Run in the transaction that records the check.
pub async fn create(
    db: impl PgExecutor<'_>,
    monitor_id: Uuid,
    check_id: Uuid,
    kind: AlertKind,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"INSERT INTO alerts (id, monitor_id, check_id, kind)
           SELECT $1, m.id, $3, $4
           FROM monitors m JOIN webhooks w ON w.user_id = m.user_id
           WHERE m.id = $2
           RETURNING id"#,
        Uuid::now_v7(),
        monitor_id,
        check_id,
        kind as AlertKind,
    )
    .fetch_optional(db)
    .await
}

/// Everything a delivery needs, read with the alert's row locked.
pub struct Outgoing {
    pub id: Uuid,
    pub kind: AlertKind,
    pub attempts: i32,
    pub monitor_id: Uuid,
    pub monitor_name: String,
    pub monitor_url: String,
    pub state: MonitorState,
    pub check_id: Uuid,
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
    /// `None` when the owner removed their webhook since.
    pub webhook_url: Option<String>,
    pub webhook_format: Option<WebhookFormat>,
}

/// The pending alert `id`, locked for the rest of the transaction so no
/// other worker sends it meanwhile; `None` when it was sent or given up
/// already, or another worker holds it.
pub async fn lock_pending(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Outgoing>> {
    sqlx::query_as!(
        Outgoing,
        r#"SELECT a.id, a.kind AS "kind: AlertKind", a.attempts,
                  m.id AS monitor_id, m.name AS monitor_name, m.url AS monitor_url,
                  m.state AS "state: MonitorState",
                  c.id AS check_id, c.status_code, c.latency_ms, c.error, c.checked_at,
                  w.url AS "webhook_url?", w.format AS "webhook_format?: WebhookFormat"
           FROM alerts a
           JOIN monitors m ON m.id = a.monitor_id
           JOIN checks c ON c.id = a.check_id
           LEFT JOIN webhooks w ON w.user_id = m.user_id
           WHERE a.id = $1 AND a.status = 'pending'
           FOR UPDATE OF a SKIP LOCKED"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// One delivery attempt's outcome.
pub async fn record_attempt(
    db: impl PgExecutor<'_>,
    id: Uuid,
    status: AlertStatus,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"UPDATE alerts
           SET attempts = attempts + 1, status = $2, last_error = $3,
               sent_at = CASE WHEN $2 = 'sent' THEN now() END
           WHERE id = $1"#,
        id,
        status as AlertStatus,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Claims up to `limit` alerts that have waited in `pending` since before
/// `queued_before` (their queueing failed, or their job was lost) and marks
/// them queued now; their ids.
pub async fn claim_stale(
    db: impl PgExecutor<'_>,
    queued_before: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"UPDATE alerts SET queued_at = now()
           WHERE id IN (
               SELECT id FROM alerts
               WHERE status = 'pending' AND queued_at < $1
               ORDER BY queued_at
               LIMIT $2
               FOR UPDATE SKIP LOCKED
           )
           RETURNING id"#,
        queued_before,
        limit
    )
    .fetch_all(db)
    .await
}
