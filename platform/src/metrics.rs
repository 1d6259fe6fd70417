//! Prometheus metrics: the process-wide recorder, the request metrics
//! middleware, and the `/metrics` endpoint, served on a port of its own so
//! it never goes through a public proxy.

use std::{sync::OnceLock, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
    routing::get,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::connections::Services;

/// Latency buckets in seconds, from a fast cache hit to a slow probe.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The handle that renders `/metrics`. Installed once, whoever asks first: a
/// process (or a test binary running several apps) has one registry.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; metrics then
            // go there and this handle renders an empty page, which is visible.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts and times every request by method, route template and status
/// (`axum::middleware::from_fn`). The route template (`/api/things/{id}`),
/// not the path, keeps the label set small.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Any method outside the standard ones is "other", so a client cannot grow
/// the label set by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `/metrics`: the registry, after sampling what is cheaper to read at scrape
/// time than to track (the pool, the job queues' depths).
pub fn routes(services: Services, queues: Vec<String>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Scrape {
            services,
            queues: queues.into(),
            handle: handle(),
        })
}

#[derive(Clone)]
struct Scrape {
    services: Services,
    queues: std::sync::Arc<[String]>,
    handle: PrometheusHandle,
}

async fn render(State(scrape): State<Scrape>) -> String {
    crate::db::record_pool_gauges(&scrape.services.db);
    for queue in scrape.queues.iter() {
        let depth = tokio::time::timeout(
            scrape.services.config.readiness_timeout,
            crate::jobs::depth(&scrape.services.redis, queue),
        )
        .await;
        match depth {
            Ok(Ok(depth)) => {
                metrics::gauge!("jobs_queue_depth", "queue" => queue.clone()).set(depth as f64);
            }
            _ => tracing::debug!(queue = %queue, "queue depth unavailable for this scrape"),
        }
    }
    scrape.handle.render()
}
