//! Request metrics and the Prometheus endpoint, served on its own port
//! (`METRICS_PORT`) so it never goes through the public proxy.

use std::time::Instant;

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

/// Counts and times every request by method, route template and status.
/// The route template (`/api/monitors/{id}`), not the path, keeps the label
/// set small.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

#[derive(Clone)]
struct MetricsState {
    handle: PrometheusHandle,
    db: PgPool,
}

pub fn router(handle: PrometheusHandle, db: PgPool) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(MetricsState { handle, db })
}

async fn render(State(state): State<MetricsState>) -> String {
    // Pool usage is sampled at scrape time: always current, no background task.
    let size = state.db.size();
    let idle = u32::try_from(state.db.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("db_pool_max_connections")
        .set(f64::from(state.db.options().get_max_connections()));
    state.handle.render()
}
