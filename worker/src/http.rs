//! The worker's private HTTP port: `/health` for Fly's checks (the process
//! serves), `/ready` (Postgres, Redis, NATS) and `/metrics` for Prometheus.
//! The worker has no Fly services, so nothing public ever reaches it.

use std::{sync::Arc, time::Duration};

use apalis_redis::ConnectionManager;
use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

#[derive(Clone)]
pub struct HttpState {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub nats: async_nats::Client,
    pub queue: Arc<str>,
    pub readiness_timeout: Duration,
    pub metrics: PrometheusHandle,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    let readiness = common::health::check(
        &state.db,
        &state.redis,
        &state.nats,
        state.readiness_timeout,
    )
    .await;
    let code = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(readiness))
}

async fn metrics(State(state): State<HttpState>) -> String {
    // Sampled at scrape time: current without a background task.
    match tokio::time::timeout(
        state.readiness_timeout,
        crate::queue::depth(&state.redis, &state.queue),
    )
    .await
    {
        Ok(Ok(depth)) => metrics::gauge!("beacon_check_queue_depth").set(depth as f64),
        _ => tracing::debug!("queue depth unavailable for this scrape"),
    }
    let idle = u32::try_from(state.db.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(state.db.size().saturating_sub(idle)));
    state.metrics.render()
}
