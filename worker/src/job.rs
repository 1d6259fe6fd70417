//! The check job: probe a monitor, record the result, move its light, and
//! announce it on NATS.
//!
//! [`execute_check`] is one check from start to finish, with no apalis in it,
//! so tests drive it directly. [`check_monitor`] is the apalis handler around
//! it: it decides between retrying and giving up.

use std::sync::Arc;

use apalis::prelude::{AbortError, Attempt, BoxDynError, Data};
use chrono::Utc;
use common::{events, jobs::CheckMonitor};
use sqlx::PgPool;

use crate::{
    light::Thresholds,
    probe::Prober,
    store::{self, CheckResult, Recorded},
};

/// Everything a check needs, shared by all of a worker's tasks.
pub struct CheckDeps {
    pub db: PgPool,
    pub nats: async_nats::Client,
    pub prober: Prober,
    pub thresholds: Thresholds,
    /// Attempts before a check whose recording keeps failing is aborted.
    pub max_attempts: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Postgres is unreachable or failing: worth retrying.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Runs one check. A failing target is not an error (it is a red light to
/// record); only failing to read or record is.
#[tracing::instrument(skip_all, fields(check_id = %job.check_id, monitor_id = %job.monitor_id))]
pub async fn execute_check(deps: &CheckDeps, job: &CheckMonitor) -> Result<Recorded, CheckError> {
    let Some(target) = store::target(&deps.db, job.monitor_id).await? else {
        tracing::info!("monitor deleted; nothing to check");
        return Ok(Recorded::MonitorGone);
    };
    let timeout =
        std::time::Duration::from_millis(u64::try_from(target.timeout_ms).unwrap_or(5_000));
    let expected = u16::try_from(target.expected_status).unwrap_or(200);
    let probe = deps
        .prober
        .probe(&target.method, &target.url, expected, timeout)
        .await;
    let latency_ms = i32::try_from(probe.latency.as_millis()).unwrap_or(i32::MAX);
    let ok = probe.status_code == Some(expected);
    let error = probe.error.clone().or_else(|| {
        probe
            .status_code
            .filter(|code| *code != expected)
            .map(|code| format!("expected status {expected}, got {code}"))
    });
    let result = CheckResult {
        ok,
        status_code: probe.status_code.map(i32::from),
        latency_ms,
        error,
        checked_at: Utc::now(),
    };
    metrics::counter!("beacon_checks_total", "outcome" => if ok { "ok" } else { "failed" })
        .increment(1);
    metrics::histogram!("beacon_check_duration_seconds").record(probe.latency.as_secs_f64());

    let recorded = store::record_check(&deps.db, job, &result, deps.thresholds).await?;
    match &recorded {
        Recorded::New(event) => {
            tracing::info!(ok, status = ?result.status_code, latency_ms, state = event.state.as_str(), "check recorded");
            let user_id = event.user_id;
            events::publish(
                &deps.nats,
                user_id,
                &events::UserEvent::Check((**event).clone()),
            )
            .await;
        }
        Recorded::Duplicate => tracing::info!("check was recorded before; redelivery ignored"),
        Recorded::MonitorGone => tracing::info!("monitor deleted during the check"),
    }
    Ok(recorded)
}

/// The apalis handler. Jobs arrive as raw JSON and are decoded here: a job
/// apalis cannot decode would stop the worker and return to the queue
/// forever, where this one is aborted and logged.
pub async fn check_monitor(
    job: serde_json::Value,
    deps: Data<Arc<CheckDeps>>,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let job: CheckMonitor = match serde_json::from_value(job) {
        Ok(job) => job,
        Err(e) => {
            tracing::error!(error = %e, "undecodable check job; aborted");
            metrics::counter!("beacon_check_jobs_aborted_total", "reason" => "undecodable")
                .increment(1);
            return Err(AbortError::new(e).into());
        }
    };
    match execute_check(&deps, &job).await {
        Ok(_) => Ok(()),
        Err(e) if attempt.current() >= deps.max_attempts => {
            tracing::error!(check_id = %job.check_id, attempts = attempt.current(), error = %e, "check aborted: retry budget spent");
            metrics::counter!("beacon_check_jobs_aborted_total", "reason" => "retries_exhausted")
                .increment(1);
            Err(AbortError::new(e).into())
        }
        Err(e) => {
            tracing::warn!(check_id = %job.check_id, attempt = attempt.current(), error = %e, "check failed; will retry");
            metrics::counter!("beacon_check_jobs_retried_total").increment(1);
            Err(e.into())
        }
    }
}
