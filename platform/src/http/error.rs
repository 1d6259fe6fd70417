//! One error type for every handler.
//!
//! Every failure leaves the API as `{"error": {"code", "message", "fields"?}}`
//! with a 4xx or 5xx status: `code` is for programs, `message` for people.
//! Internal errors are logged once, here, and answered with a generic message,
//! so no SQL, host name or stack detail ever reaches a caller.

use std::{borrow::Cow, time::Duration};

use axum::{
    BoxError,
    body::{Body, Bytes, HttpBody},
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{self, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::Json;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation_failed`, `not_found`, ...
    #[schema(example = "validation_failed")]
    pub code: Cow<'static, str>,
    /// For people; may change between versions.
    pub message: Cow<'static, str>,
    /// Per-field problems, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422 `validation_failed`, with what is wrong with each field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Any other refusal of the caller's request: its status, code and message.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: Cow<'static, str>,
    },
    /// Refused for now (429 or 503), with `Retry-After`.
    #[error("{message}")]
    Later {
        status: StatusCode,
        code: &'static str,
        message: Cow<'static, str>,
        retry_after: Duration,
    },
    /// 500; logged where it is answered, never echoed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn refused(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::refused(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no valid session.
    pub fn unauthorized() -> Self {
        Self::refused(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authentication required",
        )
    }

    /// 404: `what` names the missing thing (`route`, `resource`, ...).
    pub fn not_found(what: &'static str) -> Self {
        Self::refused(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::refused(StatusCode::CONFLICT, code, message)
    }

    /// 429 `rate_limited`: a limit is exhausted until `retry_after`.
    pub fn rate_limited(message: impl Into<Cow<'static, str>>, retry_after: Duration) -> Self {
        Self::too_many_requests("rate_limited", message, retry_after)
    }

    /// 429 with its own code: this caller has used its share; try again
    /// after `retry_after`.
    pub fn too_many_requests(
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        Self::later(StatusCode::TOO_MANY_REQUESTS, code, message, retry_after)
    }

    /// 503 with its own code: this machine has no room for the request now
    /// (whoever sends it); try again after `retry_after`.
    pub fn busy(
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        Self::later(StatusCode::SERVICE_UNAVAILABLE, code, message, retry_after)
    }

    fn later(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        Self::Later {
            status,
            code,
            message: message.into(),
            retry_after,
        }
    }

    /// 503: a dependency the request needs is down; worth retrying.
    pub fn unavailable(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::refused(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// The error for a bare status that axum or tower-http produced before a
    /// handler ran (unknown route, wrong method, body limit, timeout, panic).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "method not allowed on this route")
            }
            StatusCode::REQUEST_TIMEOUT => (
                "request_timeout",
                "the request took too long and was cancelled",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("unsupported_media_type", "unsupported content type")
            }
            s if s.is_server_error() => ("internal", "internal error"),
            _ => ("bad_request", "bad request"),
        };
        Self::refused(status, code, message)
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Refused { status, .. } | Self::Later { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (code, message, fields, retry_after) = match self {
            Self::Validation(fields) => {
                let message = match fields.as_slice() {
                    [only] => format!("{}: {}", only.field, only.message).into(),
                    _ => "several fields are invalid; see `fields`".into(),
                };
                ("validation_failed", message, fields, None)
            }
            Self::Refused { code, message, .. } => (code, message, Vec::new(), None),
            Self::Later {
                code,
                message,
                retry_after,
                ..
            } => (code, message, Vec::new(), Some(retry_after)),
            Self::Internal(e) => {
                // The only place internal errors are logged; `{e:#}` keeps the
                // context chain on one line.
                tracing::error!(error = %format!("{e:#}"), "request failed");
                (
                    "internal",
                    "internal error; it has been logged".into(),
                    Vec::new(),
                    None,
                )
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message,
                fields,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(retry_after) = retry_after {
            let secs = retry_after.as_secs().max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database query failed"))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match &rejection {
            JsonRejection::MissingJsonContentType(_) => Self::refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a JSON body with `Content-Type: application/json`",
            ),
            JsonRejection::JsonSyntaxError(e) => Self::bad_request(
                "malformed_json",
                format!("malformed JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => Self::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.body_text(),
            ),
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::for_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            other => Self::bad_request("bad_request", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        // A malformed id (`/api/things/not-a-uuid`) names no resource.
        Self::not_found("resource")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}

/// Gives every error response the JSON shape, including the plain-text ones
/// that axum and tower-http produce before a handler runs (unknown method,
/// body limit, timeout, a caught panic).
pub fn json_error_fallback<B>(response: http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response.map(Body::new);
    }
    let mut fallback = ApiError::for_status(status).into_response();
    // Keep headers such as `Allow` on a 405.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fallback.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fallback
}
