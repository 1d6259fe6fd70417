//! Alerts: when a monitor turns red or recovers, its owner's webhook gets a
//! POST. The webhook is set in the dashboard; each alert is recorded with the
//! check that caused it and delivered by the worker ([`send`]).

pub mod db;
pub mod outbox;
pub mod send;

use axum::{extract::State, http::StatusCode};
use platform::{
    http::{ApiError, ErrorBody, Json, Query},
    session::AuthUser,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{UptimeState, model::WebhookFormat, monitors::input::url_problem};
pub use db::{Alert, Webhook};

pub const DEFAULT_ALERTS_PAGE: i64 = 20;
pub const MAX_ALERTS_PAGE: i64 = 100;

pub(crate) fn routes() -> OpenApiRouter<UptimeState> {
    OpenApiRouter::new()
        .routes(routes!(get_webhook, set_webhook, delete_webhook))
        .routes(routes!(list_alerts))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSetting {
    /// `null` when alerts are off.
    pub webhook: Option<Webhook>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetWebhook {
    /// An http:// or https:// URL that accepts a JSON POST.
    #[schema(
        example = "https://hooks.slack.com/services/T000/B000/XXXX",
        max_length = 2048
    )]
    pub url: String,
    /// `json` (default) or `slack`.
    pub format: Option<WebhookFormat>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// 1 to 100; default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Newest first.
    pub alerts: Vec<Alert>,
}

/// Where alerts go.
#[utoipa::path(get, path = "/api/alerts/webhook", tag = "alerts",
    responses(
        (status = 200, body = WebhookSetting),
        (status = 401, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn get_webhook(
    State(state): State<UptimeState>,
    user: AuthUser,
) -> Result<Json<WebhookSetting>, ApiError> {
    let webhook = db::webhook(&state.app().db, user.id).await?;
    Ok(Json(WebhookSetting { webhook }))
}

/// Send alerts to this URL (replacing any before).
#[utoipa::path(put, path = "/api/alerts/webhook", tag = "alerts", request_body = SetWebhook,
    responses(
        (status = 200, body = WebhookSetting),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
async fn set_webhook(
    State(state): State<UptimeState>,
    user: AuthUser,
    Json(input): Json<SetWebhook>,
) -> Result<Json<WebhookSetting>, ApiError> {
    let url = input.url.trim();
    if let Some(problem) = url_problem(url) {
        return Err(ApiError::field("url", problem));
    }
    let format = input.format.unwrap_or(WebhookFormat::Json);
    let webhook = db::set_webhook(&state.app().db, user.id, url, format).await?;
    tracing::info!(?format, "alert webhook set");
    Ok(Json(WebhookSetting {
        webhook: Some(webhook),
    }))
}

/// Stop sending alerts.
#[utoipa::path(delete, path = "/api/alerts/webhook", tag = "alerts",
    responses(
        (status = 204, description = "No webhook any more"),
        (status = 401, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn delete_webhook(
    State(state): State<UptimeState>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    db::delete_webhook(&state.app().db, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The alerts sent (or tried) for the user's monitors, newest first.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts",
    params(AlertsQuery),
    responses(
        (status = 200, body = AlertList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn list_alerts(
    State(state): State<UptimeState>,
    user: AuthUser,
    Query(query): Query<AlertsQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_ALERTS_PAGE);
    if !(1..=MAX_ALERTS_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_ALERTS_PAGE}"),
        ));
    }
    let alerts = db::recent(&state.app().db, user.id, limit).await?;
    Ok(Json(AlertList { alerts }))
}
