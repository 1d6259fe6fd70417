//! Monitors: the URLs a user watches, their recorded checks, and "check now".

pub mod db;
pub mod model;

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use common::{
    events::{self, UserEvent},
    jobs::{CheckMonitor, CheckTrigger},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::AuthUser,
    error::{ApiError, ErrorBody},
    extract::{Json, Path, Query},
    state::AppState,
};
use db::Check;
use model::{CreateMonitor, Monitor, UpdateMonitor};

pub const DEFAULT_CHECKS_PAGE: i64 = 20;
pub const MAX_CHECKS_PAGE: i64 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_monitors, create_monitor))
        .routes(routes!(get_monitor, update_monitor, delete_monitor))
        .routes(routes!(list_checks))
        .routes(routes!(check_now))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorList {
    pub monitors: Vec<Monitor>,
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
    pub queued_at: DateTime<Utc>,
}

/// Tells the user's other tabs, on every API machine, about the change.
async fn announce(state: &AppState, user: AuthUser, monitor: &Monitor) {
    match serde_json::to_value(monitor) {
        Ok(monitor) => events::publish(&state.nats, user.id, &UserEvent::Monitor { monitor }).await,
        Err(e) => tracing::error!(error = %e, "cannot encode a monitor event"),
    }
}

async fn owned_monitor(state: &AppState, user: AuthUser, id: Uuid) -> Result<Monitor, ApiError> {
    db::get(&state.db, user.id, id)
        .await?
        .ok_or(ApiError::NotFound("monitor"))
}

/// The signed-in user's monitors, oldest first.
#[utoipa::path(get, path = "/api/monitors", tag = "monitors",
    responses(
        (status = 200, body = MonitorList),
        (status = 401, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_monitors(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MonitorList>, ApiError> {
    let monitors = db::list_for_user(&state.db, user.id).await?;
    Ok(Json(MonitorList { monitors }))
}

/// Watch a new URL. Its first check runs on the scheduler's next tick.
#[utoipa::path(post, path = "/api/monitors", tag = "monitors", request_body = CreateMonitor,
    responses(
        (status = 201, body = Monitor),
        (status = 401, body = ErrorBody),
        (status = 409, description = "Monitor limit reached", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
async fn create_monitor(
    State(state): State<AppState>,
    user: AuthUser,
    Json(input): Json<CreateMonitor>,
) -> Result<(StatusCode, Json<Monitor>), ApiError> {
    let settings = input.validate()?;
    let limit = state.config.max_monitors_per_user;
    if db::count_for_user(&state.db, user.id).await? >= limit {
        return Err(ApiError::Conflict {
            code: "monitor_limit_reached",
            message: format!("an account can have at most {limit} monitors"),
        });
    }
    let monitor = db::insert(&state.db, user.id, &settings).await?;
    tracing::info!(monitor_id = %monitor.id, "monitor created");
    announce(&state, user, &monitor).await;
    Ok((StatusCode::CREATED, Json(monitor)))
}

#[utoipa::path(get, path = "/api/monitors/{id}", tag = "monitors",
    params(("id" = Uuid, Path, description = "Monitor id")),
    responses(
        (status = 200, body = Monitor),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_monitor(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Monitor>, ApiError> {
    owned_monitor(&state, user, id).await.map(Json)
}

/// Change some of a monitor's settings.
#[utoipa::path(patch, path = "/api/monitors/{id}", tag = "monitors", request_body = UpdateMonitor,
    params(("id" = Uuid, Path, description = "Monitor id")),
    responses(
        (status = 200, body = Monitor),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, monitor_id = %id))]
async fn update_monitor(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(input): Json<UpdateMonitor>,
) -> Result<Json<Monitor>, ApiError> {
    let current = owned_monitor(&state, user, id).await?;
    let settings = input.apply_to(&current)?;
    let monitor = db::update(&state.db, user.id, id, &settings)
        .await?
        .ok_or(ApiError::NotFound("monitor"))?;
    announce(&state, user, &monitor).await;
    Ok(Json(monitor))
}

/// Stop watching a URL; its checks go with it.
#[utoipa::path(delete, path = "/api/monitors/{id}", tag = "monitors",
    params(("id" = Uuid, Path, description = "Monitor id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, monitor_id = %id))]
async fn delete_monitor(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    if db::delete(&state.db, user.id, id).await? {
        let deleted = UserEvent::MonitorDeleted { monitor_id: id };
        events::publish(&state.nats, user.id, &deleted).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("monitor"))
    }
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
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(query): Query<ChecksQuery>,
) -> Result<Json<CheckPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_CHECKS_PAGE);
    if !(1..=MAX_CHECKS_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: "invalid_query",
            message: format!("limit must be between 1 and {MAX_CHECKS_PAGE}"),
        });
    }
    owned_monitor(&state, user, id).await?;
    // One extra row tells whether another page exists.
    let mut checks = db::checks_page(&state.db, id, query.before, limit + 1).await?;
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
        (status = 503, description = "The queue is unavailable", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, monitor_id = %id))]
async fn check_now(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<CheckQueued>), ApiError> {
    owned_monitor(&state, user, id).await?;
    let job = CheckMonitor::new(id, CheckTrigger::Manual);
    let queued = CheckQueued {
        check_id: job.check_id,
        monitor_id: id,
        queued_at: job.requested_at,
    };
    let mut queue = state.checks.clone();
    common::jobs::enqueue(&mut queue, vec![job])
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot queue check");
            ApiError::Unavailable {
                code: "queue_unavailable",
                message: "the check could not be queued; try again shortly".into(),
            }
        })?;
    common::jobs::wake_workers(&state.nats, &state.config.check_queue).await;
    tracing::info!(check_id = %queued.check_id, "check queued");
    Ok((StatusCode::ACCEPTED, Json(queued)))
}
