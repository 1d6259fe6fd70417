//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! served at `/api/openapi.json`.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    auth::session::COOKIE_NAME,
    error::{ErrorBody, ErrorDetail, FieldError},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Beacon API",
        description = "Uptime monitors with a live traffic-light dashboard. Every error is \
            `{\"error\": {\"code\", \"message\", \"fields\"?}}`. State-changing requests must \
            send `Content-Type: application/json`, even without a body (CSRF protection)."
    ),
    components(schemas(ErrorBody, ErrorDetail, FieldError)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Accounts and sessions"),
        (name = "monitors", description = "Watched URLs and their checks"),
        (name = "live", description = "Server-Sent Events for the dashboard"),
    )
)]
pub struct ApiDoc;

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
