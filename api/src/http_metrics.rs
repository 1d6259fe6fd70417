//! Request metrics and the Prometheus endpoint, served on its own port
//! (`METRICS_PORT`) so it never goes through the public proxy.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{Method, Response},
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;
use pin_project_lite::pin_project;
use sqlx::PgPool;
use tower::{Layer, Service};

/// Counts and times every request by method, route template and status.
/// The route template (`/api/monitors/{id}`), not the path, keeps the label
/// set small. A tower layer rather than `middleware::from_fn`, which clones
/// the service below it and boxes two futures on every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackLayer;

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Track { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Track<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for Track<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
        Tracked {
            method: method_label(request.method()),
            route: Some(route),
            started: Instant::now(),
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        method: &'static str,
        route: Option<String>,
        started: Instant,
    }
}

impl<F, ResBody, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(route)) = (&result, this.route.take()) {
            let status = response.status().as_u16().to_string();
            let method = *this.method;
            metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
                .increment(1);
            metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
                .record(this.started.elapsed().as_secs_f64());
        }
        Poll::Ready(result)
    }
}

/// A label without an allocation; any other method is "other", so a client
/// cannot grow the label set by inventing methods.
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
