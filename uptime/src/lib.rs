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
pub mod events;
pub mod light;
pub mod live;
pub mod model;
pub mod monitors;
pub mod probe;
pub mod retention;
pub mod scheduler;
pub mod settings;

use std::{sync::Arc, time::Duration};

use axum::extract::FromRef;
use platform::{
    config::ConfigError,
    connections::Services,
    http::{ApiError, AppState},
    jobs::{JobHost, Queue},
    limit::Limit,
    outbound,
    session::{AuthUser, SessionKeys},
};
use sqlx::{PgPool, migrate::Migrator};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use alerts::{outbox::AlertOutbox, send::Alerts};
use checks::{CheckMonitor, Checks};
use probe::Prober;
use retention::Retention;
use scheduler::Scheduler;
use settings::{ApiSettings, WorkerSettings};

/// The example's migrations (`uptime/migrations/`): monitors and checks.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(OpenApi)]
#[openapi(tags(
    (name = "monitors", description = "Watched URLs and their checks"),
    (name = "alerts", description = "Where alerts go, and what was sent"),
    (name = "live", description = "Server-Sent Events for the dashboard"),
))]
struct UptimeDoc;

/// What the example's handlers reach, behind one `Arc` (axum clones a
/// handler's state for every request).
#[derive(Clone)]
pub(crate) struct Uptime(Arc<Parts>);

pub(crate) struct Parts {
    app: AppState,
    settings: ApiSettings,
    checks: Queue<CheckMonitor>,
}

impl std::ops::Deref for Uptime {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Uptime {
    fn db(&self) -> &PgPool {
        &self.app.services.db
    }

    fn nats(&self) -> &async_nats::Client {
        &self.app.services.nats
    }

    /// Counts one `what` for the user: at most `max` per `window`, across
    /// every api machine, or 429 with `message` (which may use `{secs}`).
    async fn per_user_limit(
        &self,
        user: AuthUser,
        what: &str,
        (max, window): (u32, Duration),
        message: &str,
    ) -> Result<(), ApiError> {
        let limit = Limit::new(format!("{what}:{}", user.id), max, window);
        self.app.services.limits.check(&[limit], message).await
    }
}

impl FromRef<Uptime> for SessionKeys {
    fn from_ref(uptime: &Uptime) -> Self {
        uptime.app.sessions.clone()
    }
}

/// The example's API: `/api/monitors…`, `/api/alerts…` and `/api/events`.
pub fn routes(app: &AppState) -> Result<OpenApiRouter, ConfigError> {
    let state = Uptime(Arc::new(Parts {
        settings: ApiSettings::from_env(&app.env)?,
        checks: app.services.queues.queue(),
        app: app.clone(),
    }));
    Ok(OpenApiRouter::with_openapi(UptimeDoc::openapi())
        .merge(monitors::routes())
        .merge(checks::routes())
        .merge(alerts::routes())
        .merge(live::routes())
        .with_state(state))
}

/// The example's jobs and periodic tasks, for the worker to register.
pub struct UptimeWorker {
    services: Services,
    settings: WorkerSettings,
    policy: outbound::TargetPolicy,
    max_attempts: usize,
}

impl UptimeWorker {
    pub fn new(host: &JobHost) -> Result<Self, ConfigError> {
        let services = host.services();
        let env = host.env();
        Ok(Self {
            policy: outbound::policy_from_env(env, services.config.app_env)?,
            settings: WorkerSettings::from_env(env)?,
            services: services.clone(),
            max_attempts: host.config().max_attempts,
        })
    }

    /// Runs checks ([`CheckMonitor`] jobs).
    pub fn checks(&self) -> anyhow::Result<Checks> {
        Ok(Checks {
            services: self.services.clone(),
            prober: Prober::new(self.policy.clone(), self.settings.max_redirects)?,
            thresholds: self.settings.thresholds,
            alerts: self.services.queues.queue(),
        })
    }

    /// Delivers alerts ([`alerts::send::SendAlert`] jobs), through the same
    /// outbound guard as the checks.
    pub fn alerts(&self) -> anyhow::Result<Alerts> {
        Alerts::new(
            self.services.clone(),
            self.policy.clone(),
            self.max_attempts,
        )
    }

    /// Queues again the alerts whose queueing failed.
    pub fn alert_outbox(&self) -> AlertOutbox {
        AlertOutbox {
            services: self.services.clone(),
            alerts: self.services.queues.queue(),
            tick: self.settings.alert_outbox_tick,
        }
    }

    /// Queues the checks that are due.
    pub fn scheduler(&self) -> Scheduler {
        Scheduler {
            services: self.services.clone(),
            checks: self.services.queues.queue(),
            tick: self.settings.scheduler_tick,
            batch: self.settings.scheduler_batch,
        }
    }

    /// Deletes old checks.
    pub fn retention(&self) -> Retention {
        Retention {
            services: self.services.clone(),
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
