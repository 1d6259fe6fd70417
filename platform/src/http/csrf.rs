//! CSRF protection for cookie sessions: SameSite=Strict on the cookie, plus
//! every state-changing request must declare `Content-Type: application/json`.
//! A cross-site HTML form cannot send that header, and a cross-site `fetch`
//! that does triggers a CORS preflight this API never approves.
//!
//! A tower layer: on the path of every request, it answers a refusal without
//! boxing or cloning anything.

use std::task::{Context, Poll};

use axum::{
    extract::Request,
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::future::{Either, Ready, ready};
use tower::{Layer, Service};

use super::ApiError;

#[derive(Debug, Clone, Copy, Default)]
pub struct RequireJsonForWritesLayer;

impl<S> Layer<S> for RequireJsonForWritesLayer {
    type Service = RequireJsonForWrites<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireJsonForWrites { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RequireJsonForWrites<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RequireJsonForWrites<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if is_safe(request.method()) || declares_json(&request) {
            Either::Right(self.inner.call(request))
        } else {
            let refusal = ApiError::refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "state-changing requests must send `Content-Type: application/json` (CSRF protection), even without a body",
            );
            Either::Left(ready(Ok(refusal.into_response())))
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn declares_json<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
        })
}
