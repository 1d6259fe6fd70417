//! Readiness: Postgres, Redis and NATS asked concurrently, each within a
//! short timeout. The api and the worker both serve it.
//!
//! Answers name what failed and how (`timeout` or `unreachable`), never the
//! underlying error: the api's readiness is public through the web proxy.
//! The details go to the log.

use std::{collections::BTreeMap, future::Future, time::Duration};

use redis::aio::ConnectionManager;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

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

pub async fn check(
    db: &PgPool,
    redis: &ConnectionManager,
    nats: &async_nats::Client,
    timeout: Duration,
) -> Readiness {
    let (postgres, redis, nats) = tokio::join!(
        probe("postgres", timeout, async {
            sqlx::query("SELECT 1").execute(db).await.map(|_| ())
        }),
        probe("redis", timeout, crate::redis_conn::ping(redis)),
        probe("nats", timeout, async {
            if crate::nats::is_connected(nats) {
                Ok(())
            } else {
                Err(format!("state {:?}", nats.connection_state()))
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
