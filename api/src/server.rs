//! Building and running the api: connections, listeners, the routes with
//! their middleware, and graceful shutdown.

use std::{future::Future, sync::Arc};

use axum::{Router, response::IntoResponse, routing::get};
use platform::{
    app::App,
    area::Api,
    config::{Env, PlatformConfig},
    http::{self, ApiError, HttpConfig},
    live::EventHub,
    service::Service,
    session::{SessionConfig, SessionKeys},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::routes::routes;

/// The api's own settings: what every process reads, the HTTP server's,
/// and the sessions'. Each area reads its own when it is mounted.
#[derive(Debug, Clone)]
pub struct ApiServerSettings {
    pub platform: PlatformConfig,
    pub http: HttpConfig,
    pub sessions: SessionConfig,
}

impl ApiServerSettings {
    pub fn from_env(env: &Env) -> Result<Self, platform::config::ConfigError> {
        let platform = PlatformConfig::from_env(env)?;
        Ok(Self {
            http: HttpConfig::from_env(env)?,
            sessions: SessionConfig::from_env(env, platform.app_env)?,
            platform,
        })
    }
}

pub struct ApiServer {
    listener: TcpListener,
    metrics_listener: TcpListener,
    router: Router,
    metrics_router: Router,
    serving: http::Serving,
}

impl ApiServer {
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The routes served on `METRICS_PORT`.
    pub fn metrics_router(&self) -> Router {
        self.metrics_router.clone()
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(0)
    }
}

impl Service for ApiServer {
    /// Reads the settings, connects (lazily: a dependency that is down makes
    /// `/api/ready` fail, not start-up), binds both ports and mounts every
    /// area.
    async fn build(env: Env) -> anyhow::Result<Self> {
        let settings = ApiServerSettings::from_env(&env)?;
        let http_config = settings.http.clone();
        let api = connect(settings, env).await?;
        let listener = http::bind(http_config.port, "PORT").await?;
        let metrics_listener = http::bind(http_config.metrics_port, "METRICS_PORT").await?;
        tokio::spawn(platform::live::forward_from_nats(
            api.app.nats.clone(),
            Arc::clone(&api.live),
        ));
        let (routes, openapi) = routes(&api)?.split_for_parts();
        let openapi = Arc::new(openapi);
        let router = routes
            .route(
                "/api/openapi.json",
                get(move || {
                    let openapi = Arc::clone(&openapi);
                    async move { http::Json(openapi.as_ref().clone()) }
                }),
            )
            .fallback(|| async { ApiError::not_found("route").into_response() });
        Ok(Self {
            listener,
            metrics_listener,
            router: http::with_middleware(router, &http_config),
            metrics_router: platform::metrics::routes(&api.app, Vec::new()),
            serving: http::Serving {
                stopping: api.stopping.clone(),
                drain: api.app.config.shutdown_timeout,
                idle_timeout: api.app.config.idle_timeout,
            },
        })
    }

    /// Serves until `shutdown` completes, then stops accepting connections and
    /// gives in-flight requests `SHUTDOWN_TIMEOUT_SECS` to finish.
    async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(
            port = self.port(),
            metrics_port = self.metrics_port(),
            "api listening on [::]"
        );
        http::serve(
            vec![
                (self.listener, self.router),
                (self.metrics_listener, self.metrics_router),
            ],
            shutdown,
            self.serving,
        )
        .await
    }
}

/// What every area is built from.
async fn connect(settings: ApiServerSettings, env: Env) -> anyhow::Result<Api> {
    let name = settings.platform.process_name("beacon-api");
    let live = Arc::new(EventHub::from_env(&env)?);
    let app = App::connect(env, settings.platform, &name).await?;
    let sessions = SessionKeys::new(
        &settings.sessions,
        app.redis.clone(),
        app.nats.clone(),
        &app.config.queue_prefix,
    );
    Ok(Api {
        app,
        sessions,
        live,
        stopping: CancellationToken::new(),
    })
}

/// The OpenAPI document of every area, from development settings (the
/// connections are lazy: nothing is reached). What the deployment files are
/// checked against: a health check path must be a real route.
pub async fn openapi() -> anyhow::Result<utoipa::openapi::OpenApi> {
    let env = Env::from_pairs(&[]);
    let api = connect(ApiServerSettings::from_env(&env)?, env).await?;
    Ok(routes(&api)?.into_openapi())
}
