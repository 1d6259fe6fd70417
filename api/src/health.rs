//! Liveness and readiness.
//!
//! Fly's checks use liveness, which touches no dependency: a Postgres blip must
//! not take every API machine out of routing at once. Readiness
//! ([`common::health`]) asks each dependency and names what failed.

use axum::{extract::State, http::StatusCode};
use common::health::Readiness;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{extract::Json, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: Postgres, Redis and NATS each answered in time.
#[utoipa::path(get, path = "/api/ready", tag = "health",
    responses(
        (status = 200, description = "Every dependency answered", body = Readiness),
        (status = 503, description = "At least one dependency failed; see `failed`", body = Readiness),
    ))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let readiness = common::health::check(
        &state.db,
        &state.redis,
        &state.nats,
        state.config.readiness_timeout,
    )
    .await;
    let code = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(readiness))
}
