//! One error type for every handler.
//!
//! Every failure leaves the API as `{"error": {"code", "message", "fields"?}}`
//! with a 4xx or 5xx status: `code` is for programs, `message` for people.
//! Internal errors are logged once, here, and answered with a generic message,
//! so no SQL, host name or stack detail ever reaches a caller.

use std::time::Duration;

use axum::{
    BoxError, Json,
    body::{Body, Bytes, HttpBody},
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{self, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation_failed`, `not_found`, ...
    #[schema(example = "validation_failed")]
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
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
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many failed attempts")]
    TooManyRequests { retry_after: Duration },
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { code, .. } => match *code {
                "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_body" => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::BAD_REQUEST,
            },
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::NotFound(_) => "not_found",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let message = match &self {
            Self::Internal(e) => {
                // The only place internal errors are logged; `{e:#}` keeps the
                // context chain on one line.
                tracing::error!(error = %format!("{e:#}"), "request failed");
                "internal error; it has been logged".to_owned()
            }
            Self::Validation(fields) if fields.len() == 1 => {
                format!("{}: {}", fields[0].field, fields[0].message)
            }
            Self::Validation(_) => "several fields are invalid; see `fields`".to_owned(),
            Self::TooManyRequests { retry_after } => format!(
                "too many failed login attempts; try again in {} seconds",
                retry_after.as_secs().max(1)
            ),
            other => other.to_string(),
        };
        let retry_after = match &self {
            Self::TooManyRequests { retry_after } => Some(*retry_after),
            _ => None,
        };
        let fields = match self {
            Self::Validation(fields) => fields,
            _ => Vec::new(),
        };
        let mut response = error_response(status, code, message, fields);
        if let Some(retry_after) = retry_after {
            let secs = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

pub fn error_response(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    fields: Vec<FieldError>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
            fields,
        },
    };
    (status, Json(body)).into_response()
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database query failed"))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let (code, message) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => (
                "unsupported_media_type",
                "expected a JSON body with `Content-Type: application/json`".to_owned(),
            ),
            JsonRejection::JsonSyntaxError(e) => (
                "malformed_json",
                format!("malformed JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => ("invalid_body", e.body_text()),
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ("payload_too_large", "request body is too large".to_owned())
            }
            other => ("bad_request", other.body_text()),
        };
        Self::BadRequest { code, message }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        // `/api/monitors/not-a-uuid` names no resource.
        Self::NotFound("resource")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest {
            code: "invalid_query",
            message: rejection.body_text(),
        }
    }
}

/// Gives every error response the JSON shape, including the plain-text ones
/// that axum and tower-http produce before a handler runs (unknown method,
/// body limit, timeout).
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
    let mut fallback = error_response(status, code, message, Vec::new());
    // Keep headers such as `Allow` on a 405.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fallback.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fallback
}
