//! Every API area, mounted in one place, and the schema they need.
//!
//! An area is a module with a `routes(&Api)` that returns its
//! documented routes with their own state (see `accounts/src/routes.rs`).
//! Adding one is one line in [`routes`]; its OpenAPI paths and tags come
//! with it.

use platform::{
    area::Api,
    config::ConfigError,
    events::Events,
    http::{ErrorBody, ErrorDetail, FieldError},
    session::COOKIE_NAME,
};
use sqlx::migrate::Migrator;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

/// Every route under `/api`, each area with its state.
pub fn routes(api: &Api) -> Result<OpenApiRouter, ConfigError> {
    // The live stream: each area's part of its snapshot, under its key.
    let events = Events::new(api)?
        .snapshot("monitors", uptime::live::snapshot) // example
        .snapshot("account", accounts::snapshot);
    Ok(OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(uptime::routes(api)?) // example
        .merge(platform::health::routes(&api.app))
        .merge(events.routes(api))
        .merge(accounts::routes(api)?))
}

/// The schema: the skeleton's migrations, then each domain's.
pub fn migrator() -> Migrator {
    platform::db::migrator(&[
        &accounts::MIGRATOR,
        &uptime::MIGRATOR, // example
    ])
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Beacon API",
        description = "Every error is `{\"error\": {\"code\", \"message\", \"fields\"?}}`. \
            State-changing requests must send `Content-Type: application/json`, even without \
            a body (CSRF protection)."
    ),
    components(schemas(ErrorBody, ErrorDetail, FieldError)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "live", description = "The live stream: Server-Sent Events"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(COOKIE_NAME))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
