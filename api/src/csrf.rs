//! CSRF protection for cookie sessions: SameSite=Strict on the cookie, plus
//! every state-changing request must declare `Content-Type: application/json`.
//! A cross-site HTML form cannot send that header, and a cross-site `fetch`
//! that does triggers a CORS preflight this API never approves.

use axum::{
    extract::Request,
    http::{Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::ApiError;

pub async fn require_json_for_writes(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let declares_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
        });
    if safe || declares_json {
        next.run(request).await
    } else {
        ApiError::BadRequest {
            code: "unsupported_media_type",
            message: "state-changing requests must send `Content-Type: application/json` (CSRF protection), even without a body".into(),
        }
        .into_response()
    }
}
