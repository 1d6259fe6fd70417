//! Checks: each probe of a monitor, as recorded, and "check now".

pub mod db;
pub mod job;

use std::time::Duration;

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use platform::{
    http::{ApiError, ErrorBody, Json, Path, Query},
    limit::Limit,
    session::AuthUser,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{UptimeState, model::CheckTrigger, monitors};
pub use db::Check;
pub use job::{CheckMonitor, Checks};

pub const DEFAULT_CHECKS_PAGE: i64 = 20;
pub const MAX_CHECKS_PAGE: i64 = 100;

pub(crate) fn routes() -> OpenApiRouter<UptimeState> {
    OpenApiRouter::new()
        .routes(routes!(list_checks))
        .routes(routes!(check_now))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChecksQuery {
    /// 1 to 100; default 20.
    pub limit: Option<i64>,
    /// The `next_before` of the previous page.
    pub before: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckPage {
    pub checks: Vec<Check>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next_before: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckQueued {
    /// The id the recorded check will have.
    pub check_id: Uuid,
    pub monitor_id: Uuid,
    #[serde(serialize_with = "platform::time::serialize")]
    pub queued_at: DateTime<Utc>,
}

/// A monitor's recorded checks, newest first.
#[utoipa::path(get, path = "/api/monitors/{id}/checks", tag = "monitors",
    params(("id" = Uuid, Path, description = "Monitor id"), ChecksQuery),
    responses(
        (status = 200, body = CheckPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_checks(
    State(state): State<UptimeState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(query): Query<ChecksQuery>,
) -> Result<Json<CheckPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_CHECKS_PAGE);
    if !(1..=MAX_CHECKS_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_CHECKS_PAGE}"),
        ));
    }
    monitors::owned(&state, user, id).await?;
    // One extra row tells whether another page exists.
    let mut checks = db::page(&state.app().db, id, query.before, limit + 1).await?;
    let next_before = if checks.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        checks.pop();
        checks.last().map(|c| c.id)
    } else {
        None
    };
    Ok(Json(CheckPage {
        checks,
        next_before,
    }))
}

/// Queue a check of this monitor now. The worker records it under `check_id`.
#[utoipa::path(post, path = "/api/monitors/{id}/check", tag = "monitors",
    params(("id" = Uuid, Path, description = "Monitor id")),
    responses(
        (status = 202, description = "Check queued", body = CheckQueued),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 429, description = "Too many checks asked for; see Retry-After", body = ErrorBody),
        (status = 503, description = "The queue is unavailable", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, monitor_id = %id))]
async fn check_now(
    State(state): State<UptimeState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<CheckQueued>), ApiError> {
    monitors::owned(&state, user, id).await?;
    let per_minute = state.settings.manual_checks_per_minute;
    let limit = Limit::per_user(
        "manual_checks",
        user.id,
        per_minute,
        Duration::from_secs(60),
    );
    (state.app().limits)
        .check(
            &[limit],
            "too many checks asked for; try again in {secs} seconds",
        )
        .await?;
    let job = CheckMonitor::new(id, CheckTrigger::Manual);
    let queued = CheckQueued {
        check_id: job.check_id,
        monitor_id: id,
        queued_at: job.requested_at,
    };
    state.checks.push(job).await.map_err(|e| {
        tracing::error!(error = %e, "cannot queue check");
        ApiError::unavailable(
            "queue_unavailable",
            "the check could not be queued; try again shortly",
        )
    })?;
    tracing::info!(check_id = %queued.check_id, "check queued");
    Ok((StatusCode::ACCEPTED, Json(queued)))
}
