//! Liveness and readiness.
//!
//! Fly's checks use liveness, which touches no dependency: a Postgres blip must
//! not take every API machine out of routing at once. Readiness asks each
//! dependency, concurrently and within a short timeout, and names what failed.
//! Both are public through the web app's `/api/` proxy, so failures are
//! reported by name only; the details go to the log.

use std::{collections::BTreeMap, future::Future, time::Duration};

use axum::{extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

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

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Every dependency by name.
    pub dependencies: BTreeMap<&'static str, DependencyStatus>,
    /// The names of the dependencies that failed.
    pub failed: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyStatus {
    pub ok: bool,
    pub latency_ms: u64,
    /// `timeout` or `unreachable` when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Health)))]
async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Readiness: Postgres, Redis and NATS each answered in time.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Every dependency answered", body = Readiness),
        (status = 503, description = "At least one dependency failed; see `failed`", body = Readiness),
    ))]
async fn ready(State(state): State<AppState>) -> (StatusCode, axum::Json<Readiness>) {
    let timeout = state.config.readiness_timeout;
    let (postgres, redis, nats) = tokio::join!(
        probe("postgres", timeout, async {
            sqlx::query("SELECT 1").execute(&state.db).await.map(|_| ())
        }),
        probe("redis", timeout, common::redis_conn::ping(&state.redis)),
        probe("nats", timeout, async {
            if common::nats::is_connected(&state.nats) {
                Ok(())
            } else {
                Err(format!("state {:?}", state.nats.connection_state()))
            }
        }),
    );
    readiness([postgres, redis, nats])
}

fn readiness(
    results: [(&'static str, DependencyStatus); 3],
) -> (StatusCode, axum::Json<Readiness>) {
    let failed: Vec<&'static str> = results
        .iter()
        .filter(|(_, status)| !status.ok)
        .map(|(name, _)| *name)
        .collect();
    let (code, status) = if failed.is_empty() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    let body = Readiness {
        status,
        dependencies: results.into_iter().collect(),
        failed,
    };
    (code, axum::Json(body))
}

async fn probe<E: std::fmt::Display>(
    name: &'static str,
    timeout: Duration,
    check: impl Future<Output = Result<(), E>>,
) -> (&'static str, DependencyStatus) {
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(timeout, check).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "readiness check failed");
            Some("unreachable")
        }
        Err(_) => {
            tracing::warn!(
                dependency = name,
                timeout_ms = timeout.as_millis(),
                "readiness check timed out"
            );
            Some("timeout")
        }
    };
    (
        name,
        DependencyStatus {
            ok: error.is_none(),
            latency_ms,
            error,
        },
    )
}
