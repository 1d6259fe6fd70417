//! Extractors whose rejections use Beacon's error shape instead of axum's
//! plain text.

use axum::{
    extract::{FromRequest, FromRequestParts},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::ApiError;

/// `axum::Json`, rejecting with [`ApiError`]; and the JSON response type.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

/// Serialises into a `Vec` rather than axum's `BytesMut` writer, which copies
/// once per JSON token (see docs/BENCHMARKS.md).
impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(512);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(err) => {
                ApiError::Internal(anyhow::Error::new(err).context("response did not serialise"))
                    .into_response()
            }
        }
    }
}

/// `axum::extract::Path`, rejecting with a 404.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query`, rejecting with a 400.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);
