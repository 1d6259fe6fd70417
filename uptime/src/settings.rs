//! The example's settings: each declared once, where it is read.

use std::time::Duration;

use platform::config::{ConfigError, Env};

use crate::light::Thresholds;

/// What the api's side of the example reads.
#[derive(Debug, Clone)]
pub struct UptimeApiSettings {
    pub max_monitors_per_user: i64,
    /// "Check now" per user per minute: each is an outbound request.
    pub manual_checks_per_minute: u32,
    /// Monitors created or pointed at a new URL per user per hour: each
    /// new target is probed on every tick from then on.
    pub url_changes_per_hour: u32,
}

impl UptimeApiSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            max_monitors_per_user: env
                .var("MAX_MONITORS_PER_USER", "monitors per account")
                .number(50, 1..=10_000)?,
            manual_checks_per_minute: env
                .var(
                    "MANUAL_CHECKS_PER_MINUTE",
                    "\"check now\" requests per user per minute; then 429",
                )
                .number(6, 1..=10_000)?,
            url_changes_per_hour: env
                .var(
                    "URL_CHANGES_PER_HOUR",
                    "monitors created or given a new URL per user per hour; then 429",
                )
                .number(30, 1..=10_000)?,
        })
    }
}

/// What the worker's side of the example reads.
#[derive(Debug, Clone)]
pub struct UptimeWorkerSettings {
    pub thresholds: Thresholds,
    pub max_redirects: usize,
    pub scheduler_tick: Duration,
    pub scheduler_batch: i64,
    pub check_retention: Duration,
    pub retention_tick: Duration,
    pub alert_outbox_tick: Duration,
}

impl UptimeWorkerSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let retention_days: u64 = env
            .var(
                "CHECK_RETENTION_DAYS",
                "checks older than this many days are deleted",
            )
            .number(30, 1..=3650)?;
        Ok(Self {
            thresholds: Thresholds {
                slow_ms: env
                    .var(
                        "SLOW_THRESHOLD_MS",
                        "a successful check slower than this is yellow",
                    )
                    .number(2_000, 1..=60_000)?,
                down_after_failures: env
                    .var(
                        "DOWN_AFTER_FAILURES",
                        "failures in a row that make a monitor red",
                    )
                    .number(2, 1..=100)?,
                recent_window: 5,
            },
            max_redirects: env
                .var("PROBE_MAX_REDIRECTS", "redirects a check follows")
                .number(5, 0..=20)?,
            scheduler_tick: env
                .var("SCHEDULER_TICK_MS", "how often due monitors are claimed")
                .millis(2_000, 100..=60_000)?,
            scheduler_batch: env
                .var("SCHEDULER_BATCH", "monitors claimed per statement")
                .number(500, 1..=10_000)?,
            check_retention: Duration::from_secs(retention_days * 86_400),
            retention_tick: env
                .var("RETENTION_TICK_SECS", "how often old checks are deleted")
                .secs(600, 1..=86_400)?,
            alert_outbox_tick: env
                .var(
                    "ALERT_OUTBOX_TICK_SECS",
                    "how often alerts whose queueing failed are queued again",
                )
                .secs(30, 1..=3600)?,
        })
    }
}
