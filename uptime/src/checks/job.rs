//! The check job: probe a monitor, record the result, move its light, and
//! announce it on NATS.

use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::{
    app::App,
    jobs::{Handler, JobError},
    queue::{Job, Queue},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::db::{self, NewCheck};
use crate::{
    alerts::{self, send::SendAlert},
    light::{self, CheckVerdict, Thresholds},
    model::{AlertKind, CheckTrigger, MonitorState},
    monitors,
    monitors::events::{self, CheckRecorded},
    probe::Prober,
    truncate,
};

/// Probe one monitor once. `check_id` becomes the primary key of the recorded
/// check: delivery is at-least-once, and a redelivered job must not record twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckMonitor {
    pub check_id: Uuid,
    pub monitor_id: Uuid,
    pub trigger: CheckTrigger,
    pub requested_at: DateTime<Utc>,
}

impl CheckMonitor {
    pub fn new(monitor_id: Uuid, trigger: CheckTrigger) -> Self {
        Self {
            check_id: Uuid::now_v7(),
            monitor_id,
            trigger,
            requested_at: Utc::now(),
        }
    }
}

impl Job for CheckMonitor {
    const QUEUE: &'static str = "checks";

    fn id(&self) -> String {
        self.check_id.to_string()
    }
}

/// What recording a check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored now; the event that was published, and the alert it caused.
    New(Box<CheckRecorded>, Option<Uuid>),
    /// A redelivered job: the check was stored before, nothing changed.
    Duplicate,
    /// The monitor was deleted; nothing to record.
    MonitorGone,
}

/// Runs [`CheckMonitor`] jobs.
pub struct Checks {
    pub app: App,
    pub prober: Prober,
    pub thresholds: Thresholds,
    /// Where the alerts a check causes are queued.
    pub alerts: Queue<SendAlert>,
}

impl Handler for Checks {
    type Job = CheckMonitor;

    async fn handle(&self, job: CheckMonitor) -> Result<(), JobError> {
        self.check(&job).await?;
        Ok(())
    }
}

impl Checks {
    /// One check from start to finish, with no queue in it, so tests drive
    /// it directly. A failing target is not an error (it is a red light to
    /// record); only failing to read or record is.
    #[tracing::instrument(skip_all, fields(check_id = %job.check_id, monitor_id = %job.monitor_id))]
    pub async fn check(&self, job: &CheckMonitor) -> Result<Recorded, sqlx::Error> {
        let db = &self.app.db;
        let Some(target) = monitors::db::target(db, job.monitor_id).await? else {
            tracing::info!("monitor deleted; nothing to check");
            return Ok(Recorded::MonitorGone);
        };
        let timeout = Duration::from_millis(u64::try_from(target.timeout_ms).unwrap_or(5_000));
        let expected = u16::try_from(target.expected_status).unwrap_or(200);
        let probe = self
            .prober
            .probe(target.method, &target.url, expected, timeout)
            .await;
        let ok = probe.status_code == Some(expected);
        let error = probe.error.clone().or_else(|| {
            probe
                .status_code
                .filter(|code| *code != expected)
                .map(|code| format!("expected status {expected}, got {code}"))
        });
        metrics::counter!("beacon_checks_total", "outcome" => if ok { "ok" } else { "failed" })
            .increment(1);
        metrics::histogram!("beacon_check_duration_seconds").record(probe.latency.as_secs_f64());
        let check = NewCheck {
            id: job.check_id,
            monitor_id: job.monitor_id,
            trigger: job.trigger,
            ok,
            status_code: probe.status_code.map(i32::from),
            latency_ms: i32::try_from(probe.latency.as_millis()).unwrap_or(i32::MAX),
            // Errors are text from the network: keep them bounded.
            error: error.map(|e| truncate(&e, 1000).to_owned()),
            checked_at: Utc::now(),
        };

        let recorded = self.record(&check).await?;
        match &recorded {
            Recorded::New(event, alert) => {
                tracing::info!(ok, status = ?check.status_code, latency_ms = check.latency_ms, state = ?event.state, "check recorded");
                events::check_recorded(&self.app.nats, event).await;
                if let Some(alert_id) = *alert
                    && let Err(e) = self.alerts.push(SendAlert { alert_id }).await
                {
                    // Recorded all the same: the outbox sweep queues it later.
                    tracing::warn!(%alert_id, error = %e, "alert not queued yet");
                }
            }
            Recorded::Duplicate => tracing::info!("check was recorded before; redelivery ignored"),
            Recorded::MonitorGone => tracing::info!("monitor deleted during the check"),
        }
        Ok(recorded)
    }

    /// Stores the check under the job's own id, moves the light and records
    /// the alert a change of light causes, in one transaction. The monitor
    /// row is locked first, so two checks of one monitor finishing together
    /// update its state one after the other.
    pub async fn record(&self, check: &NewCheck) -> Result<Recorded, sqlx::Error> {
        let mut tx = self.app.db.begin().await?;
        let Some(monitor) = monitors::db::lock_for_check(&mut *tx, check.monitor_id).await? else {
            return Ok(Recorded::MonitorGone);
        };
        let stored = db::store(&mut *tx, check, self.thresholds.recent_window).await?;
        if !stored.inserted {
            return Ok(Recorded::Duplicate);
        }
        let verdict = CheckVerdict {
            ok: check.ok,
            latency_ms: check.latency_ms,
        };
        let (state, failures) = light::next_state(
            verdict,
            monitor.consecutive_failures,
            stored.recent_failures,
            self.thresholds,
        );
        monitors::db::set_state(
            &mut *tx,
            check.monitor_id,
            state,
            failures,
            check.checked_at,
        )
        .await?;
        let alert = match alert_kind(monitor.state, state) {
            Some(kind) => alerts::db::create(&mut *tx, check.monitor_id, check.id, kind).await?,
            None => None,
        };
        tx.commit().await?;

        Ok(Recorded::New(
            Box::new(CheckRecorded {
                check_id: check.id,
                monitor_id: check.monitor_id,
                user_id: monitor.user_id,
                state,
                ok: check.ok,
                status_code: check.status_code,
                latency_ms: Some(check.latency_ms),
                error: check.error.clone(),
                checked_at: check.checked_at,
            }),
            alert,
        ))
    }
}

/// The change of light worth an alert: turning red, or leaving red.
pub fn alert_kind(before: MonitorState, after: MonitorState) -> Option<AlertKind> {
    match (before, after) {
        (MonitorState::Down, MonitorState::Down) => None,
        (_, MonitorState::Down) => Some(AlertKind::Down),
        (MonitorState::Down, MonitorState::Up | MonitorState::Degraded) => {
            Some(AlertKind::Recovered)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MonitorState::{Degraded, Down, Unknown, Up};

    #[test]
    fn only_turning_red_and_leaving_red_are_alerted() {
        for before in [Unknown, Up, Degraded] {
            assert_eq!(alert_kind(before, Down), Some(AlertKind::Down));
            for after in [Up, Degraded] {
                assert_eq!(alert_kind(before, after), None);
            }
        }
        assert_eq!(alert_kind(Down, Down), None);
        assert_eq!(alert_kind(Down, Degraded), Some(AlertKind::Recovered));
        assert_eq!(alert_kind(Down, Up), Some(AlertKind::Recovered));
    }
}
