//! Monitors: the URLs a user watches.

pub mod db;
pub mod events;
pub mod input;

use std::time::Duration;

use axum::{extract::State, http::StatusCode};
use platform::{
    http::{ApiError, ErrorBody, Json, Path},
    limit::Limit,
    session::AuthUser,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::UptimeState;
pub use db::Monitor;
use input::{CreateMonitor, UpdateMonitor};

pub(crate) fn routes() -> OpenApiRouter<UptimeState> {
    OpenApiRouter::new()
        .routes(routes!(list_monitors, create_monitor))
        .routes(routes!(get_monitor, update_monitor, delete_monitor))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorList {
    pub monitors: Vec<Monitor>,
}

/// The caller's monitor, or 404 (whoever else it may belong to).
pub(crate) async fn owned(
    state: &UptimeState,
    user: AuthUser,
    id: Uuid,
) -> Result<Monitor, ApiError> {
    db::get(&state.app().db, user.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("monitor"))
}

/// Counts a new probe target (a monitor created, or a URL changed) against
/// `URL_CHANGES_PER_HOUR`: deleting and re-creating must not be a way
/// around it.
async fn url_change_allowed(state: &UptimeState, user: AuthUser) -> Result<(), ApiError> {
    let per_hour = state.settings.url_changes_per_hour;
    let limit = Limit::per_user("url_changes", user.id, per_hour, Duration::from_secs(3600));
    (state.app().limits)
        .check(
            &[limit],
            "too many new monitor URLs this hour; try again in {secs} seconds",
        )
        .await
}

/// The signed-in user's monitors, oldest first.
#[utoipa::path(get, path = "/api/monitors", tag = "monitors",
    responses(
        (status = 200, body = MonitorList),
        (status = 401, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_monitors(
    State(state): State<UptimeState>,
    user: AuthUser,
) -> Result<Json<MonitorList>, ApiError> {
    let monitors = db::list_for_user(&state.app().db, user.id).await?;
    Ok(Json(MonitorList { monitors }))
}

/// Watch a new URL. Its first check runs on the scheduler's next tick.
#[utoipa::path(post, path = "/api/monitors", tag = "monitors", request_body = CreateMonitor,
    responses(
        (status = 201, body = Monitor),
        (status = 401, body = ErrorBody),
        (status = 409, description = "Monitor limit reached", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many new URLs this hour; see Retry-After", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
async fn create_monitor(
    State(state): State<UptimeState>,
    user: AuthUser,
    Json(input): Json<CreateMonitor>,
) -> Result<(StatusCode, Json<Monitor>), ApiError> {
    let settings = input.validate()?;
    url_change_allowed(&state, user).await?;
    let limit = state.settings.max_monitors_per_user;
    let monitor = db::insert_within(&state.app().db, user.id, &settings, limit)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "monitor_limit_reached",
                format!("an account can have at most {limit} monitors"),
            )
        })?;
    tracing::info!(monitor_id = %monitor.id, "monitor created");
    events::monitor_changed(&state.app().nats, user.id, &monitor).await;
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
    State(state): State<UptimeState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Monitor>, ApiError> {
    owned(&state, user, id).await.map(Json)
}

/// Change some of a monitor's settings.
#[utoipa::path(patch, path = "/api/monitors/{id}", tag = "monitors", request_body = UpdateMonitor,
    params(("id" = Uuid, Path, description = "Monitor id")),
    responses(
        (status = 200, body = Monitor),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many new URLs this hour; see Retry-After", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, monitor_id = %id))]
async fn update_monitor(
    State(state): State<UptimeState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(input): Json<UpdateMonitor>,
) -> Result<Json<Monitor>, ApiError> {
    let current = owned(&state, user, id).await?;
    let settings = input.apply_to(&current)?;
    if settings.url != current.url {
        url_change_allowed(&state, user).await?;
    }
    let monitor = db::update(&state.app().db, user.id, id, &settings)
        .await?
        .ok_or_else(|| ApiError::not_found("monitor"))?;
    events::monitor_changed(&state.app().nats, user.id, &monitor).await;
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
    State(state): State<UptimeState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    if db::delete(&state.app().db, user.id, id).await? {
        events::monitor_deleted(&state.app().nats, user.id, id).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("monitor"))
    }
}
