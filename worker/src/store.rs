//! The worker's Postgres work: reading a monitor's target, recording a check
//! (idempotently, with the state change, in one transaction), claiming due
//! monitors, and pruning old checks. Functions take any executor where they
//! can, so tests run them on a pool or in a transaction alike.

use chrono::{DateTime, Utc};
use common::{events::CheckRecorded, jobs::CheckMonitor};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::light::{self, CheckVerdict, Thresholds};

/// What to probe.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub method: String,
    pub timeout_ms: i32,
    pub expected_status: i32,
}

/// `None` when the monitor was deleted after the job was queued.
pub async fn target(db: impl PgExecutor<'_>, monitor_id: Uuid) -> sqlx::Result<Option<Target>> {
    sqlx::query_as!(
        Target,
        "SELECT url, method, timeout_ms, expected_status FROM monitors WHERE id = $1",
        monitor_id
    )
    .fetch_optional(db)
    .await
}

/// A finished probe, ready to record.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub ok: bool,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored now; the event to publish.
    New(Box<CheckRecorded>),
    /// A redelivered job: the check was stored before, nothing changed.
    Duplicate,
    /// The monitor was deleted; nothing to record.
    MonitorGone,
}

/// Stores the check under the job's own id and moves the light, atomically.
/// The monitor row is locked first, so two checks of one monitor finishing
/// together update its state one after the other.
#[tracing::instrument(skip_all, fields(check_id = %job.check_id, monitor_id = %job.monitor_id))]
pub async fn record_check(
    db: &PgPool,
    job: &CheckMonitor,
    result: &CheckResult,
    thresholds: Thresholds,
) -> sqlx::Result<Recorded> {
    let mut tx = db.begin().await?;
    let Some(monitor) = sqlx::query!(
        "SELECT user_id, consecutive_failures FROM monitors WHERE id = $1 FOR UPDATE",
        job.monitor_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(Recorded::MonitorGone);
    };

    // Errors are user-visible text from the network; keep them bounded.
    let error = result.error.as_deref().map(|e| truncate(e, 1000));
    // Stores the check and counts the failures among the monitor's recent
    // checks in one round trip. The count reads the statement's snapshot,
    // taken after the row lock above was granted, so it sees every check a
    // concurrent recorder of this monitor committed; it never sees the new
    // row (a CTE's insert is invisible to its own statement), which `id <>`
    // also says outright.
    let stored = sqlx::query!(
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
        job.check_id,
        job.monitor_id,
        job.trigger.as_str(),
        result.ok,
        result.status_code,
        result.latency_ms,
        error,
        result.checked_at,
        thresholds.recent_window,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !stored.inserted {
        return Ok(Recorded::Duplicate);
    }

    let verdict = CheckVerdict {
        ok: result.ok,
        latency_ms: result.latency_ms,
    };
    let (state, failures) = light::next_state(
        verdict,
        monitor.consecutive_failures,
        stored.recent_failures,
        thresholds,
    );
    sqlx::query!(
        r#"UPDATE monitors
           SET state = $2, consecutive_failures = $3,
               last_checked_at = greatest(last_checked_at, $4)
           WHERE id = $1"#,
        job.monitor_id,
        state.as_str(),
        failures,
        result.checked_at,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    Ok(Recorded::New(Box::new(CheckRecorded {
        check_id: job.check_id,
        monitor_id: job.monitor_id,
        user_id: monitor.user_id,
        state,
        ok: result.ok,
        status_code: result.status_code,
        latency_ms: Some(result.latency_ms),
        error: error.map(str::to_owned),
        checked_at: result.checked_at,
    })))
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Claims up to `limit` monitors whose check is due and moves each one's
/// `next_check_at` on by its interval, in one statement. `SKIP LOCKED` lets
/// scaled-out workers claim side by side: a row one of them is claiming is
/// invisible to the others, and once claimed it is no longer due.
pub async fn claim_due_monitors(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<Uuid>> {
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

/// Deletes up to `batch` checks older than `before`; how many it deleted.
/// Small batches keep each transaction, and the locks it holds, short.
pub async fn prune_checks_batch(
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
