//! The middleware every API request passes, outermost first.

use std::time::{Duration, Instant};

use axum::{
    Router,
    extract::MatchedPath,
    http::{HeaderName, Method, Request, StatusCode, header},
    middleware::Next,
    response::Response,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tracing::Span;

use super::{csrf::RequireJsonForWritesLayer, json_error_fallback};
use crate::config::{ConfigError, Env};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The HTTP server's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// HTTP port on `[::]` (0 picks a free one).
    pub port: u16,
    /// Prometheus `/metrics` port on `[::]`.
    pub metrics_port: u16,
    /// A request without a response by then gets 408, so a hung request
    /// cannot hold up graceful shutdown.
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
}

impl HttpConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            port: env.var("PORT", "HTTP port, on `[::]`").port(8080)?,
            metrics_port: env
                .var("METRICS_PORT", "Prometheus `/metrics` port, on `[::]`")
                .port(9091)?,
            request_timeout: env
                .var(
                    "REQUEST_TIMEOUT_SECS",
                    "a request still running after this gets 408",
                )
                .secs(15, 1..=300)?,
            body_limit_bytes: env
                .var("BODY_LIMIT_BYTES", "largest request body")
                .number(64 * 1024, 1024..=16 * 1024 * 1024)?,
        })
    }
}

/// Wraps every route in the stack, in one `layer` call (each call boxes
/// the routes again, and that is paid on every request).
pub fn with_middleware(router: Router, config: &HttpConfig) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
            ]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
                        )
                    })
                    // Numbers rather than tower-http's "3 ms" text: log
                    // queries can filter and add them up.
                    .on_response(|response: &Response, latency: Duration, _: &Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                            "request finished"
                        );
                    }),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(axum::middleware::from_fn(track_requests))
            // Under the layers that read the response: every error they see
            // (and the client gets) has the JSON shape.
            .map_response(json_error_fallback)
            // A panicking handler answers 500 instead of dropping the connection.
            .layer(CatchPanicLayer::new())
            // gzip only: every client speaks it, and brotli's encoder state
            // would travel inline in every response body.
            .layer(CompressionLayer::new())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
            .layer(RequireJsonForWritesLayer),
    )
}

/// Counts and times every request by method, route template and status
/// (`axum::middleware::from_fn`). The route template (`/api/things/{id}`),
/// not the path, keeps the label set small.
async fn track_requests(request: axum::extract::Request, next: Next) -> Response {
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

#[cfg(test)]
mod tests {
    use axum::{body::Body, routing::get};
    use tower::ServiceExt;

    use super::*;

    fn config() -> HttpConfig {
        HttpConfig {
            port: 0,
            metrics_port: 0,
            request_timeout: Duration::from_secs(5),
            body_limit_bytes: 1024,
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_error_shape() {
        async fn boom() -> &'static str {
            panic!("a bug in a handler")
        }
        let app = with_middleware(Router::new().route("/boom", get(boom)), &config());
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(json["error"]["code"], "internal");
        assert!(
            !String::from_utf8_lossy(&body).contains("a bug in a handler"),
            "the panic message stays in the log"
        );
    }

    #[tokio::test]
    async fn a_handler_that_outlives_the_timeout_answers_408() {
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late"
        }
        let mut config = config();
        config.request_timeout = Duration::from_millis(50);
        let app = with_middleware(Router::new().route("/slow", get(slow)), &config);
        let response = app
            .oneshot(Request::get("/slow").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }
}
