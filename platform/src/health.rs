//! Liveness and readiness, served by the api (`/api/health`, `/api/ready`)
//! and the worker (`/health`, `/ready`) from the same handlers.
//!
//! Fly's checks use liveness, which touches no dependency: a Postgres blip
//! must not take every machine out of routing at once. Readiness asks
//! Postgres, Redis and NATS concurrently, each within a short timeout, and
//! names what failed and how (`timeout` or `unreachable`), never the
//! underlying error: the api's readiness is public through the web proxy.
//! The details go to the log.

use std::{collections::BTreeMap, future::Future, time::Duration};

use axum::{extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{app::App, http::Json};

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

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.failed.is_empty()
    }
}

/// `/api/health` and `/api/ready`, documented.
pub fn routes(app: &App) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .with_state(app.clone())
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: Postgres, Redis and NATS each answered in time.
#[utoipa::path(get, path = "/api/ready", tag = "health",
    responses(
        (status = 200, description = "Every dependency answered", body = Readiness),
        (status = 503, description = "At least one dependency failed; see `failed`", body = Readiness),
    ))]
pub async fn ready(State(app): State<App>) -> (StatusCode, Json<Readiness>) {
    let readiness = readiness(&app).await;
    let code = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(readiness))
}

/// Postgres, Redis and NATS asked at once, each within
/// `READINESS_TIMEOUT_MS`.
pub async fn readiness(app: &App) -> Readiness {
    let timeout = app.config.readiness_timeout;
    let (postgres, redis, nats) = tokio::join!(
        probe("postgres", timeout, async {
            sqlx::query("SELECT 1").execute(&app.db).await.map(|_| ())
        }),
        probe("redis", timeout, async {
            let mut conn = app.redis.clone();
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
        }),
        probe("nats", timeout, async {
            match app.nats.connection_state() {
                async_nats::connection::State::Connected => Ok(()),
                state => Err(format!("state {state:?}")),
            }
        }),
    );
    let results = [postgres, redis, nats];
    let failed: Vec<&'static str> = results
        .iter()
        .filter(|(_, status)| !status.ok)
        .map(|(name, _)| *name)
        .collect();
    Readiness {
        status: if failed.is_empty() {
            "ready"
        } else {
            "unavailable"
        },
        dependencies: results.into_iter().collect(),
        failed,
    }
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
