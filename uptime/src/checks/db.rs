//! Every query on the `checks` table. Functions take any executor, so they
//! run on the pool or inside a transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::CheckTrigger;

/// One recorded probe of a monitor.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    pub id: Uuid,
    pub trigger: CheckTrigger,
    pub ok: bool,
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    #[serde(serialize_with = "platform::time::serialize")]
    pub checked_at: DateTime<Utc>,
}

/// Newest first, `limit` rows older than the check `before` (keyset
/// pagination: stable while new checks keep arriving).
pub async fn page(
    db: impl PgExecutor<'_>,
    monitor_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Check>> {
    sqlx::query_as!(
        Check,
        r#"SELECT id, trigger AS "trigger: CheckTrigger", ok, status_code, latency_ms, error, checked_at
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

/// A check of one of several monitors, for the dashboard's snapshot.
pub struct RecentCheck {
    pub monitor_id: Uuid,
    pub check: Check,
}

/// The newest `per_monitor` checks of each of `monitor_ids`, newest first.
pub async fn recent(
    db: impl PgExecutor<'_>,
    monitor_ids: &[Uuid],
    per_monitor: i64,
) -> sqlx::Result<Vec<RecentCheck>> {
    let rows = sqlx::query!(
        r#"SELECT monitor_id AS "monitor_id!", id AS "id!", trigger AS "trigger!: CheckTrigger",
                  ok AS "ok!", status_code, latency_ms, error, checked_at AS "checked_at!"
           FROM (SELECT c.*, row_number() OVER (PARTITION BY monitor_id ORDER BY checked_at DESC, id DESC) AS n
                 FROM checks c WHERE monitor_id = ANY($1)) recent
           WHERE n <= $2
           ORDER BY monitor_id, checked_at DESC, id DESC"#,
        monitor_ids,
        per_monitor
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| RecentCheck {
            monitor_id: row.monitor_id,
            check: Check {
                id: row.id,
                trigger: row.trigger,
                ok: row.ok,
                status_code: row.status_code,
                latency_ms: row.latency_ms,
                error: row.error,
                checked_at: row.checked_at,
            },
        })
        .collect())
}

/// A finished probe, ready to record.
#[derive(Debug, Clone)]
pub struct NewCheck {
    pub id: Uuid,
    pub monitor_id: Uuid,
    pub trigger: CheckTrigger,
    pub ok: bool,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
}

/// What storing a check found.
pub struct Stored {
    /// False when a check with this id exists already (a redelivered job).
    pub inserted: bool,
    /// Failures among the monitor's `window` checks before this one.
    pub recent_failures: i64,
}

/// Stores the check (once: its id is the job's) and counts the failures
/// among the monitor's recent checks, in one round trip. Run it after
/// locking the monitor's row: the count then reads a snapshot taken after
/// the lock was granted, so it sees every check a concurrent recorder of
/// this monitor committed. It never sees the new row (a CTE's insert is
/// invisible to its own statement), which `id <>` also says outright.
pub async fn store(db: impl PgExecutor<'_>, check: &NewCheck, window: i64) -> sqlx::Result<Stored> {
    let row = sqlx::query!(
        r#"WITH inserted AS (
               INSERT INTO checks (id, monitor_id, trigger, ok, status_code, latency_ms, error, checked_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (id) DO NOTHING
               RETURNING id
           )
           SELECT EXISTS (SELECT 1 FROM inserted) AS "inserted!",
                  (SELECT count(*) FILTER (WHERE NOT ok)
                   FROM (SELECT ok FROM checks
                         WHERE monitor_id = $2 AND id <> $1
                         ORDER BY checked_at DESC, id DESC
                         LIMIT $9) recent) AS "recent_failures!""#,
        check.id,
        check.monitor_id,
        check.trigger as CheckTrigger,
        check.ok,
        check.status_code,
        check.latency_ms,
        check.error,
        check.checked_at,
        window,
    )
    .fetch_one(db)
    .await?;
    Ok(Stored {
        inserted: row.inserted,
        recent_failures: row.recent_failures,
    })
}

/// Deletes up to `batch` checks older than `before`; how many it deleted.
/// Small batches keep each transaction, and the locks it holds, short.
pub async fn prune_batch(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    batch: i64,
) -> sqlx::Result<u64> {
    let result = sqlx::query!(
        r#"DELETE FROM checks WHERE id IN (
               SELECT id FROM checks WHERE checked_at < $1 LIMIT $2
           )"#,
        before,
        batch
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}
