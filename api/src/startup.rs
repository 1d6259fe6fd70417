//! Building and running the API: connections, listeners, the router and its
//! middleware, and graceful shutdown.

use std::{future::Future, net::Ipv6Addr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    http::{HeaderName, Request, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::{net::TcpListener, sync::watch};
use tower::ServiceBuilder;
use tower_http::{
    compression::CompressionLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::TraceLayer,
};
use tracing::Span;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    auth::{self, rate_limit::LoginLimiter, session::SessionKeys},
    config::ApiConfig,
    csrf,
    error::{ApiError, json_error_fallback},
    health, http_metrics,
    live::{self, hub::EventHub},
    monitors,
    openapi::ApiDoc,
    state::{AppState, Shared},
    timeout::RequestTimeoutLayer,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub struct Application {
    stop: watch::Sender<bool>,
    listener: TcpListener,
    metrics_listener: TcpListener,
    router: Router,
    metrics_router: Router,
    shutdown_timeout: Duration,
}

impl Application {
    /// Connects (lazily: a dependency that is down makes `/api/ready` fail,
    /// not start-up), binds both ports and assembles the router.
    pub async fn build(config: ApiConfig) -> anyhow::Result<Self> {
        let db = common::db::connect_lazy(&config.common.database)
            .context("DATABASE_URL is not a usable Postgres URL")?;
        let redis = common::redis_conn::connect_lazy(&config.common.redis_url)
            .context("REDIS_URL is not a usable Redis URL")?;
        let nats = common::nats::connect(&config.common.nats_url, &client_name(&config))
            .await
            .context("NATS_URL is not a usable NATS URL")?;

        // Bind [::]: on Linux it is dual-stack, so Fly Proxy (IPv4) and
        // Flycast/6PN (IPv6) both reach it. 0.0.0.0 breaks `.internal`.
        let listener = bind(config.port, "PORT").await?;
        let metrics_listener = bind(config.metrics_port, "METRICS_PORT").await?;

        let live = Arc::new(EventHub::default());
        tokio::spawn(live::hub::forward_from_nats(
            nats.clone(),
            Arc::clone(&live),
        ));
        let (stop, stopping) = watch::channel(false);

        let state = AppState::new(Shared {
            live,
            stopping,
            checks: common::jobs::check_storage(redis.clone(), &config.check_queue),
            sessions: Arc::new(SessionKeys::new(
                config.jwt_secret.expose(),
                config.session_ttl,
                config.is_production(),
            )),
            login_limiter: Arc::new(LoginLimiter::new(
                redis.clone(),
                config.login_max_failures,
                config.login_lockout,
            )),
            db: db.clone(),
            redis,
            nats,
            config: Arc::new(config.clone()),
        });
        Ok(Self {
            stop,
            listener,
            metrics_listener,
            router: router(state, &config),
            metrics_router: http_metrics::router(common::metrics::handle(), db),
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(0)
    }

    /// Serves until `shutdown` completes, then stops accepting connections and
    /// gives in-flight requests `SHUTDOWN_TIMEOUT_SECS` to finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(
            port = self.port(),
            metrics_port = self.metrics_port(),
            "api listening on [::]"
        );
        let stop = self.stop;
        let stopped = stop.subscribe();
        let when_stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        };
        let api = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(when_stopped(stopped.clone()));
        let metrics = axum::serve(self.metrics_listener, self.metrics_router)
            .with_graceful_shutdown(when_stopped(stopped));
        let mut api = tokio::spawn(api.into_future());
        let mut metrics = tokio::spawn(metrics.into_future());

        tokio::select! {
            () = shutdown => {}
            result = &mut api => anyhow::bail!("http server stopped unexpectedly: {result:?}"),
            result = &mut metrics => anyhow::bail!("metrics server stopped unexpectedly: {result:?}"),
        }
        let _ = stop.send(true);
        let drained = tokio::time::timeout(self.shutdown_timeout, async {
            let _ = api.await;
            let _ = metrics.await;
        })
        .await;
        match drained {
            Ok(()) => tracing::info!("in-flight requests finished; stopped"),
            Err(_) => tracing::warn!(
                timeout_secs = self.shutdown_timeout.as_secs(),
                "drain time over; stopping with requests still in flight"
            ),
        }
        Ok(())
    }
}

async fn bind(port: u16, var: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind((Ipv6Addr::UNSPECIFIED, port))
        .await
        .with_context(|| format!("cannot listen on [::]:{port} (set by {var})"))
}

/// NATS shows this in its connection list: which app and machine it is.
fn client_name(config: &ApiConfig) -> String {
    let fly = &config.common.fly;
    match (&fly.app_name, &fly.machine_id) {
        (Some(app), Some(machine)) => format!("{app}-{machine}"),
        _ => "beacon-api".to_owned(),
    }
}

/// Every route and its documentation, before state and middleware.
/// Each handler's attribute holds its full path: merged, not nested, because
/// axum wraps every nested route in a prefix-stripping layer that rewrites
/// the URI on each request.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(auth::router())
        .merge(monitors::router())
        .merge(live::router())
}

/// The OpenAPI document, without running anything: what the deployment
/// files are checked against (a health check path must be a real route).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// Every route under `/api`, with the middleware stack.
pub fn router(state: AppState, config: &ApiConfig) -> Router {
    let (routes, openapi) = routes().split_for_parts();
    let openapi = Arc::new(openapi);

    routes
        .route(
            "/api/openapi.json",
            get(move || {
                let openapi = Arc::clone(&openapi);
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::NotFound("route").into_response() })
        // One `layer` call with the whole stack: every `Router::layer` call
        // boxes the routes again, and that is paid on every request.
        .layer(
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
                .layer(http_metrics::TrackLayer)
                // Right under the layers that read the response, and boxing
                // compression's body into an axum `Body` once.
                .map_response(json_error_fallback)
                // gzip only: with brotli enabled, tower-http keeps the brotli
                // encoder's state inline in every response body (5.8 KB,
                // copied on each move), and gzip is what every client speaks.
                .layer(CompressionLayer::new())
                .layer(RequestTimeoutLayer::new(config.request_timeout))
                .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
                .layer(csrf::RequireJsonForWritesLayer),
        )
        .with_state(state)
}
