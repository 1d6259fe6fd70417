//! Prometheus metrics: the process-wide recorder and the `/metrics`
//! endpoint, served on a port of its own so it never goes through a public
//! proxy. Requests are counted by the HTTP stack ([`crate::http`]).

use std::sync::OnceLock;

use axum::{Router, extract::State, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::App;

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

/// `/metrics`: the registry, after sampling what is cheaper to read at scrape
/// time than to track (the pool, the job queues' depths).
pub fn routes(app: &App, queues: Vec<String>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Scrape {
            app: app.clone(),
            queues: queues.into(),
            handle: handle(),
        })
}

#[derive(Clone)]
struct Scrape {
    app: App,
    queues: std::sync::Arc<[String]>,
    handle: PrometheusHandle,
}

async fn render(State(scrape): State<Scrape>) -> String {
    crate::db::record_pool_gauges(&scrape.app.db);
    for queue in scrape.queues.iter() {
        let depth = tokio::time::timeout(
            scrape.app.config.readiness_timeout,
            crate::queue::depth(&scrape.app.redis, queue),
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
