//! The live dashboard feed: `GET /api/events`, Server-Sent Events.
//!
//! A stream starts with a snapshot of the user's monitors and their recent
//! checks read from Postgres, then carries every event for that user
//! ([`crate::events`]). Core NATS is at-most-once, so the snapshot is what
//! makes a stream correct: a browser that reconnects (EventSource does so by
//! itself) gets a fresh one. The subscription is taken before the snapshot
//! is read, so nothing that lands in between is lost (at worst it arrives
//! twice, and the browser ignores a check id it has).

use std::{collections::HashMap, convert::Infallible, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, Sse},
};
use futures::Stream;
use platform::{
    http::{ApiError, ErrorBody},
    live::StreamEnds,
    session::AuthUser,
};
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    UptimeState,
    checks::{self, Check},
    monitors::{self, Monitor},
};

/// Recent checks per monitor in a snapshot: enough for the sparkline.
pub const RECENT_CHECKS: i64 = 20;

pub(crate) fn routes() -> OpenApiRouter<UptimeState> {
    OpenApiRouter::new().routes(routes!(events))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorWithChecks {
    #[serde(flatten)]
    pub monitor: Monitor,
    /// Newest first.
    pub recent_checks: Vec<Check>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Snapshot {
    pub monitors: Vec<MonitorWithChecks>,
}

/// Two queries: the monitors, then the newest checks of all of them at once.
pub async fn snapshot(db: impl PgExecutor<'_> + Copy, user_id: Uuid) -> sqlx::Result<Snapshot> {
    let monitors = monitors::db::list_for_user(db, user_id).await?;
    let ids: Vec<Uuid> = monitors.iter().map(|m| m.id).collect();
    let mut recent: HashMap<Uuid, Vec<Check>> = HashMap::new();
    for row in checks::db::recent(db, &ids, RECENT_CHECKS).await? {
        recent.entry(row.monitor_id).or_default().push(row.check);
    }
    Ok(Snapshot {
        monitors: monitors
            .into_iter()
            .map(|monitor| MonitorWithChecks {
                recent_checks: recent.remove(&monitor.id).unwrap_or_default(),
                monitor,
            })
            .collect(),
    })
}

/// Live updates for the signed-in user, until their session ends.
///
/// Events: `snapshot` (first, `Snapshot`), then `check`, `monitor` and
/// `monitor_deleted` as they happen, and keep-alive comments in between.
#[utoipa::path(get, path = "/api/events", tag = "live",
    responses(
        (status = 200, description = "An event stream; the first event is a `snapshot`",
            content_type = "text/event-stream", body = Snapshot),
        (status = 401, body = ErrorBody),
        (status = 429, description = "The user holds as many streams as allowed; see Retry-After", body = ErrorBody),
        (status = 503, description = "This machine holds as many streams as it can; see Retry-After", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn events(
    State(state): State<UptimeState>,
    user: AuthUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let subscription = state.api().live.subscribe(user.id)?;
    let snapshot = snapshot(&state.app().db, user.id).await?;
    let first = Event::default()
        .event("snapshot")
        .json_data(&snapshot)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("encoding a snapshot")))?
        // How long EventSource waits before reconnecting.
        .retry(Duration::from_secs(2));
    Ok(platform::live::event_stream(
        subscription,
        first,
        StreamEnds {
            keepalive: state.settings.sse_keepalive,
            stopping: state.api().stopping.clone(),
            session_ends: user.expires_at,
        },
    ))
}
