//! The alert job: POST one alert to its owner's webhook, through the same
//! outbound guard as the checks, and record how it went.
//!
//! An alert is sent at most once: the job locks its row for the length of
//! the delivery and only sends one still `pending`, so a redelivered job (or
//! a second worker) finds it `sent` and does nothing. The request carries
//! `Idempotency-Key: <alert id>` for receivers that want to drop the rare
//! repeat a crash between sending and recording could cause.

use std::{sync::Arc, time::Duration};

use platform::{
    app::App,
    jobs::{Handler, JobError},
    outbound::{TargetPolicy, describe_error, guarded_client},
    queue::Job,
};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::db::{self, Outgoing};
use crate::{
    model::{AlertKind, AlertStatus, WebhookFormat},
    truncate,
};

/// A webhook gets this long to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Deliver one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAlert {
    pub alert_id: Uuid,
}

impl Job for SendAlert {
    const QUEUE: &'static str = "alerts";

    fn id(&self) -> String {
        self.alert_id.to_string()
    }
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The webhook answered 2xx.
    Sent,
    /// Worth another try: a 5xx, 408 or 429, a timeout, a connection failure.
    Transient(String),
    /// Never worth another try: refused by the guard, a 4xx, a redirect.
    Permanent(String),
}

/// Runs [`SendAlert`] jobs.
pub struct Alerts {
    pub app: App,
    client: reqwest::Client,
    policy: Arc<TargetPolicy>,
    /// Tries before an alert is given up, counted in its row: the job host's
    /// retry budget, so the last attempt records the failure itself.
    pub max_attempts: i32,
}

impl Alerts {
    pub fn new(app: App, policy: TargetPolicy, max_attempts: usize) -> anyhow::Result<Self> {
        let policy = Arc::new(policy);
        Ok(Self {
            client: guarded_client(
                &policy,
                concat!("Beacon/", env!("CARGO_PKG_VERSION"), " (alerts)"),
            )?,
            policy,
            app,
            max_attempts: i32::try_from(max_attempts).unwrap_or(i32::MAX),
        })
    }

    /// One attempt at one alert; what was recorded, `None` when there was
    /// nothing to do (sent or given up before, or another worker has it).
    pub async fn send(&self, alert_id: Uuid) -> Result<Option<AlertStatus>, sqlx::Error> {
        let mut tx = self.app.db.begin().await?;
        let Some(alert) = db::lock_pending(&mut *tx, alert_id).await? else {
            tx.commit().await?;
            return Ok(None);
        };
        let delivery = match (&alert.webhook_url, alert.webhook_format) {
            (Some(url), Some(format)) => self.deliver(url, &payload(&alert, format)).await,
            _ => Delivery::Permanent("the account has no webhook any more".to_owned()),
        };
        let last_attempt = alert.attempts + 1 >= self.max_attempts;
        let (status, error) = match delivery {
            Delivery::Sent => (AlertStatus::Sent, None),
            Delivery::Permanent(error) => (AlertStatus::Failed, Some(error)),
            Delivery::Transient(error) if last_attempt => (AlertStatus::Failed, Some(error)),
            Delivery::Transient(error) => (AlertStatus::Pending, Some(error)),
        };
        let error = error.map(|e| truncate(&e, 1000).to_owned());
        db::record_attempt(&mut *tx, alert.id, status, error.as_deref()).await?;
        tx.commit().await?;
        metrics::counter!("beacon_alerts_total", "status" => status_label(status)).increment(1);
        match status {
            AlertStatus::Sent => {
                tracing::info!(alert_id = %alert.id, kind = ?alert.kind, "alert sent")
            }
            _ => {
                tracing::warn!(alert_id = %alert.id, ?status, error = error.as_deref().unwrap_or(""), "alert not delivered")
            }
        }
        Ok(Some(status))
    }

    /// POSTs `body`, the webhook's URL checked like a monitor's.
    async fn deliver(&self, url: &str, body: &serde_json::Value) -> Delivery {
        let url = match url::Url::parse(url) {
            Ok(url) => url,
            Err(e) => return Delivery::Permanent(format!("invalid webhook URL: {e}")),
        };
        if let Err(refused) = self.policy.check_literal_host(&url) {
            return Delivery::Permanent(refused.to_string());
        }
        let alert_id = body["alert_id"].as_str().unwrap_or_default().to_owned();
        let response = self
            .client
            .post(url)
            .timeout(WEBHOOK_TIMEOUT)
            .header("Idempotency-Key", alert_id)
            .json(body)
            .send()
            .await;
        match response {
            Ok(response) => classify(response.status()),
            Err(e) if e.is_timeout() => Delivery::Transient(format!(
                "the webhook did not answer within {} s",
                WEBHOOK_TIMEOUT.as_secs()
            )),
            Err(e) => {
                let described = describe_error(&e);
                if described.starts_with("refused:") {
                    Delivery::Permanent(described)
                } else {
                    Delivery::Transient(described)
                }
            }
        }
    }
}

impl Handler for Alerts {
    type Job = SendAlert;

    async fn handle(&self, job: SendAlert) -> Result<(), JobError> {
        match self.send(job.alert_id).await? {
            // Recorded, to be tried again after the host's back-off.
            Some(AlertStatus::Pending) => Err(JobError::Retry(anyhow::anyhow!(
                "the webhook failed; will retry"
            ))),
            _ => Ok(()),
        }
    }
}

/// What a webhook's answer means for the alert.
pub fn classify(status: StatusCode) -> Delivery {
    if status.is_success() {
        Delivery::Sent
    } else if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Delivery::Transient(format!("the webhook answered {status}"))
    } else if status.is_redirection() {
        Delivery::Permanent(format!(
            "the webhook answered {status}; webhooks must not redirect"
        ))
    } else {
        Delivery::Permanent(format!("the webhook answered {status}"))
    }
}

/// The request body, in the webhook's format.
pub fn payload(alert: &Outgoing, format: WebhookFormat) -> serde_json::Value {
    let event = match alert.kind {
        AlertKind::Down => "monitor.down",
        AlertKind::Recovered => "monitor.recovered",
    };
    match format {
        WebhookFormat::Json => json!({
            "event": event,
            "alert_id": alert.id,
            "monitor": {
                "id": alert.monitor_id,
                "name": alert.monitor_name,
                "url": alert.monitor_url,
                "state": alert.state,
            },
            "check": {
                "id": alert.check_id,
                "status_code": alert.status_code,
                "latency_ms": alert.latency_ms,
                "error": alert.error,
                "checked_at": platform::time::rfc3339(&alert.checked_at),
            },
        }),
        WebhookFormat::Slack => {
            let text = match alert.kind {
                AlertKind::Down => format!(
                    ":red_circle: *{}* is down ({}): {}",
                    alert.monitor_name,
                    alert.monitor_url,
                    alert.error.as_deref().unwrap_or("the check failed")
                ),
                AlertKind::Recovered => format!(
                    ":large_green_circle: *{}* is back up ({})",
                    alert.monitor_name, alert.monitor_url
                ),
            };
            json!({ "text": text, "alert_id": alert.id })
        }
    }
}

fn status_label(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Pending => "retrying",
        AlertStatus::Sent => "sent",
        AlertStatus::Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_trouble_and_throttling_are_retried() {
        assert_eq!(classify(StatusCode::NO_CONTENT), Delivery::Sent);
        for transient in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
        ] {
            assert!(
                matches!(classify(transient), Delivery::Transient(_)),
                "{transient}"
            );
        }
        for permanent in [
            StatusCode::NOT_FOUND,
            StatusCode::GONE,
            StatusCode::FOUND,
            StatusCode::FORBIDDEN,
        ] {
            assert!(
                matches!(classify(permanent), Delivery::Permanent(_)),
                "{permanent}"
            );
        }
    }
}
