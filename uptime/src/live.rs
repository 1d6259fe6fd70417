//! The dashboard's part of the live stream (`GET /api/events`,
//! [`platform::events`]): its snapshot, the user's monitors and their recent
//! checks read from Postgres, under `monitors`; the events that follow are in
//! [`crate::monitors::events`]. Core NATS is at-most-once, so the snapshot is
//! what makes a stream correct: a browser that reconnects (EventSource does
//! so by itself) gets a fresh one, and ignores a check id it has.

use std::collections::HashMap;

use platform::app::App;
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    checks::{self, Check},
    monitors::{self, Monitor},
};

/// Recent checks per monitor in a snapshot: enough for the sparkline.
pub const RECENT_CHECKS: i64 = 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorWithChecks {
    #[serde(flatten)]
    pub monitor: Monitor,
    /// Newest first.
    pub recent_checks: Vec<Check>,
}

/// Two queries: the monitors, then the newest checks of all of them at once.
pub async fn monitors_with_checks(
    db: impl PgExecutor<'_> + Copy,
    user_id: Uuid,
) -> sqlx::Result<Vec<MonitorWithChecks>> {
    let monitors = monitors::db::list_for_user(db, user_id).await?;
    let ids: Vec<Uuid> = monitors.iter().map(|m| m.id).collect();
    let mut recent: HashMap<Uuid, Vec<Check>> = HashMap::new();
    for row in checks::db::recent(db, &ids, RECENT_CHECKS).await? {
        recent.entry(row.monitor_id).or_default().push(row.check);
    }
    Ok(monitors
        .into_iter()
        .map(|monitor| MonitorWithChecks {
            recent_checks: recent.remove(&monitor.id).unwrap_or_default(),
            monitor,
        })
        .collect())
}

/// The `monitors` part of the live stream's snapshot.
pub async fn snapshot(app: App, user_id: Uuid) -> anyhow::Result<Vec<MonitorWithChecks>> {
    Ok(monitors_with_checks(&app.db, user_id).await?)
}
