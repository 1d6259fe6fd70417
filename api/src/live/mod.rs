//! The live dashboard feed: `GET /api/events`, Server-Sent Events.
//!
//! A stream starts with a snapshot of the user's monitors and their recent
//! checks read from Postgres, then carries every event for that user from
//! NATS. Core NATS is at-most-once, so the snapshot is what makes a stream
//! correct: a browser that reconnects (EventSource does so by itself) gets
//! a fresh one. The subscription is taken before the snapshot is read, so
//! nothing that lands in between is lost (at worst it arrives twice, and
//! the browser ignores a check id it has).

pub mod hub;

use std::{collections::HashMap, convert::Infallible, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream};
use serde::Serialize;
use sqlx::PgExecutor;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    monitors::{db, model::Monitor},
    state::AppState,
};

/// Recent checks per monitor in a snapshot: enough for the sparkline.
pub const RECENT_CHECKS: i64 = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecentCheck {
    pub id: Uuid,
    pub ok: bool,
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorWithChecks {
    #[serde(flatten)]
    pub monitor: Monitor,
    /// Newest first.
    pub recent_checks: Vec<RecentCheck>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Snapshot {
    pub monitors: Vec<MonitorWithChecks>,
}

struct RecentRow {
    monitor_id: Uuid,
    id: Uuid,
    ok: bool,
    status_code: Option<i32>,
    latency_ms: Option<i32>,
    error: Option<String>,
    checked_at: DateTime<Utc>,
}

/// Two queries: the monitors, then the newest checks of all of them at once.
pub async fn snapshot(db: impl PgExecutor<'_> + Copy, user_id: Uuid) -> sqlx::Result<Snapshot> {
    let monitors = db::list_for_user(db, user_id).await?;
    let ids: Vec<Uuid> = monitors.iter().map(|m| m.id).collect();
    let rows = sqlx::query_as!(
        RecentRow,
        r#"SELECT monitor_id AS "monitor_id!", id AS "id!", ok AS "ok!", status_code, latency_ms, error,
                  checked_at AS "checked_at!"
           FROM (SELECT c.*, row_number() OVER (PARTITION BY monitor_id ORDER BY checked_at DESC, id DESC) AS n
                 FROM checks c WHERE monitor_id = ANY($1)) recent
           WHERE n <= $2
           ORDER BY monitor_id, checked_at DESC, id DESC"#,
        &ids,
        RECENT_CHECKS
    )
    .fetch_all(db)
    .await?;
    let mut recent: HashMap<Uuid, Vec<RecentCheck>> = HashMap::new();
    for row in rows {
        recent.entry(row.monitor_id).or_default().push(RecentCheck {
            id: row.id,
            ok: row.ok,
            status_code: row.status_code,
            latency_ms: row.latency_ms,
            error: row.error,
            checked_at: row.checked_at,
        });
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

/// Live updates for the signed-in user.
///
/// Events: `snapshot` (first, `Snapshot`), then `check`, `monitor` and
/// `monitor_deleted` as they happen, and keep-alive comments in between.
#[utoipa::path(get, path = "/api/events", tag = "live",
    responses(
        (status = 200, description = "An event stream; the first event is a `snapshot`",
            content_type = "text/event-stream", body = Snapshot),
        (status = 401, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn events(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let subscription = state.live.subscribe(user.id);
    let snapshot = snapshot(&state.db, user.id).await?;
    let first = Event::default()
        .event("snapshot")
        .json_data(&snapshot)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("encoding a snapshot")))?
        // How long EventSource waits before reconnecting.
        .retry(Duration::from_secs(2));

    let updates = stream::unfold(subscription, |mut subscription| async move {
        loop {
            match subscription.receiver.recv().await {
                Ok(event) => match event.data() {
                    Ok(data) => {
                        let sse = Event::default().event(event.name()).data(data);
                        return Some((Ok(sse), subscription));
                    }
                    Err(e) => tracing::error!(error = %e, "cannot encode a live event"),
                },
                // Fell behind: end the stream so the browser reconnects and
                // re-syncs from a snapshot instead of missing events.
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return None,
            }
        }
    });
    // Open streams end when the server stops, so they do not hold up the drain.
    let mut stopping = state.stopping.clone();
    let until_stopped = async move {
        let _ = stopping.wait_for(|stopped| *stopped).await;
    };
    let stream = stream::once(async { Ok(first) })
        .chain(updates)
        .take_until(until_stopped);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.config.sse_keepalive)))
}
