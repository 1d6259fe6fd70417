//! The example product: an uptime monitor with a live traffic-light
//! dashboard. Users watch URLs (monitors); the worker probes them (checks),
//! moves each one's light, and tells the dashboard over NATS and SSE.
//!
//! Everything of the example is in this crate: its API areas, its jobs and
//! periodic tasks, its SQL (one module per table) and its migrations. The
//! binaries reach it through two doors, one line each: [`routes`] (mounted by
//! the api) and [`UptimeWorker`] (registered by the worker). Remove it with
//! `cargo xtask make-it-yours --strip-example`.

pub mod alerts;
pub mod checks;
pub mod light;
pub mod live;
pub mod model;
pub mod monitors;
pub mod probe;
pub mod retention;
pub mod scheduler;
pub mod settings;
#[cfg(feature = "test-helpers")]
pub mod testing;

use platform::{
    app::App,
    area::{Api, Area},
    config::ConfigError,
    jobs::JobHost,
    outbound,
    queue::Queue,
};
use sqlx::migrate::Migrator;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use alerts::{outbox::AlertOutbox, send::Alerts};
use checks::{CheckMonitor, Checks};
use probe::Prober;
use retention::Retention;
use scheduler::Scheduler;
use settings::{UptimeApiSettings, UptimeWorkerSettings};

/// The example's migrations (`uptime/migrations/`): monitors and checks.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(OpenApi)]
#[openapi(tags(
    (name = "monitors", description = "Watched URLs and their checks"),
    (name = "alerts", description = "Where alerts go, and what was sent"),
))]
struct UptimeDoc;

/// The example's own part of its API state.
pub(crate) struct Uptime {
    settings: UptimeApiSettings,
    checks: Queue<CheckMonitor>,
}

/// What the example's handlers get.
pub(crate) type UptimeState = Area<Uptime>;

/// The example's API: `/api/monitors…`, `/api/alerts…` and `/api/events`.
pub fn routes(api: &Api) -> Result<OpenApiRouter, ConfigError> {
    let state = api.area(Uptime {
        settings: UptimeApiSettings::from_env(api.env())?,
        checks: api.app.queues.queue(),
    });
    Ok(OpenApiRouter::with_openapi(UptimeDoc::openapi())
        .merge(monitors::routes())
        .merge(checks::routes())
        .merge(alerts::routes())
        .with_state(state))
}

/// The example's jobs and periodic tasks, for the worker to register.
pub struct UptimeWorker {
    app: App,
    settings: UptimeWorkerSettings,
    policy: outbound::TargetPolicy,
    max_attempts: usize,
}

impl UptimeWorker {
    pub fn new(host: &JobHost) -> Result<Self, ConfigError> {
        let app = host.app();
        Ok(Self {
            policy: outbound::policy_from_env(&app.env, app.config.app_env)?,
            settings: UptimeWorkerSettings::from_env(&app.env)?,
            app: app.clone(),
            max_attempts: host.config().max_attempts,
        })
    }

    /// Runs checks ([`CheckMonitor`] jobs).
    pub fn checks(&self) -> anyhow::Result<Checks> {
        Ok(Checks {
            app: self.app.clone(),
            prober: Prober::new(self.policy.clone(), self.settings.max_redirects)?,
            thresholds: self.settings.thresholds,
            alerts: self.app.queues.queue(),
        })
    }

    /// Delivers alerts ([`alerts::send::SendAlert`] jobs), through the same
    /// outbound guard as the checks.
    pub fn alerts(&self) -> anyhow::Result<Alerts> {
        Alerts::new(self.app.clone(), self.policy.clone(), self.max_attempts)
    }

    /// Queues again the alerts whose queueing failed.
    pub fn alert_outbox(&self) -> AlertOutbox {
        AlertOutbox {
            app: self.app.clone(),
            alerts: self.app.queues.queue(),
            tick: self.settings.alert_outbox_tick,
        }
    }

    /// Queues the checks that are due.
    pub fn scheduler(&self) -> Scheduler {
        Scheduler {
            app: self.app.clone(),
            checks: self.app.queues.queue(),
            tick: self.settings.scheduler_tick,
            batch: self.settings.scheduler_batch,
        }
    }

    /// Deletes old checks.
    pub fn retention(&self) -> Retention {
        Retention {
            app: self.app.clone(),
            keep: self.settings.check_retention,
            tick: self.settings.retention_tick,
        }
    }
}

/// Cuts network text (an error, a reason) to what a column holds.
pub(crate) fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
