//! The accounts API area: sign up, log in, log out, who am I, and a bearer
//! token for scripts.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{FromRef, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use platform::{
    config::{ConfigError, Env},
    http::{ApiError, AppState, ErrorBody, FieldError, Json},
    jobs::Queue,
    session::{AuthUser, SessionKeys},
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    password,
    rate_limit::LoginLimiter,
    users::{self, User},
    welcome::WelcomeUser,
};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const MAX_EMAIL_CHARS: usize = 254;

/// The failed-login limit.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub login_max_failures: u32,
    pub login_lockout: Duration,
}

impl AccountSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            login_max_failures: env
                .var(
                    "LOGIN_MAX_FAILURES",
                    "failed logins allowed per email in one window; then 429",
                )
                .number(5, 1..=1000)?,
            login_lockout: env
                .var(
                    "LOGIN_LOCKOUT_SECS",
                    "that window, counted from the first failure",
                )
                .secs(15 * 60, 1..=24 * 3600)?,
        })
    }
}

#[derive(OpenApi)]
#[openapi(tags((name = "auth", description = "Accounts and sessions")))]
struct AccountsDoc;

/// What the area's handlers reach, behind one `Arc` (axum clones a
/// handler's state for every request).
#[derive(Clone)]
struct Accounts(Arc<Parts>);

struct Parts {
    app: AppState,
    limiter: LoginLimiter,
    welcome: Queue<WelcomeUser>,
}

impl std::ops::Deref for Accounts {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl FromRef<Accounts> for SessionKeys {
    fn from_ref(accounts: &Accounts) -> Self {
        accounts.app.sessions.clone()
    }
}

/// `/api/auth/*`.
pub fn routes(app: &AppState) -> Result<OpenApiRouter, ConfigError> {
    let settings = AccountSettings::from_env(&app.env)?;
    let state = Accounts(Arc::new(Parts {
        limiter: LoginLimiter::new(
            app.services.redis.clone(),
            settings.login_max_failures,
            settings.login_lockout,
        ),
        welcome: app.services.queues.queue(),
        app: app.clone(),
    }));
    Ok(OpenApiRouter::with_openapi(AccountsDoc::openapi())
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(token))
        .routes(routes!(logout))
        .routes(routes!(me))
        .with_state(state))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: User,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(serialize_with = "platform::time::serialize")]
    pub expires_at: DateTime<Utc>,
}

/// Lower-cased and trimmed, so `Ada@Example.com ` and `ada@example.com` are one account.
fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

fn validate_signup(credentials: &Credentials) -> Result<String, ApiError> {
    let email = normalize_email(&credentials.email);
    let mut problems = Vec::new();
    let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !email.chars().any(char::is_whitespace);
    if !well_formed {
        problems.push(FieldError::new(
            "email",
            "must be an email address like ada@example.com",
        ));
    } else if email.chars().count() > MAX_EMAIL_CHARS {
        problems.push(FieldError::new(
            "email",
            format!("must be at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
    let password_chars = credentials.password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password_chars) {
        problems.push(FieldError::new(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if problems.is_empty() {
        Ok(email)
    } else {
        Err(ApiError::Validation(problems))
    }
}

/// Create an account and start a session.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = Credentials,
    responses(
        (status = 201, description = "Account created; the session cookie is set", body = UserResponse),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid email or password", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
async fn signup(
    State(state): State<Accounts>,
    Json(credentials): Json<Credentials>,
) -> Result<Response, ApiError> {
    let email = validate_signup(&credentials)?;
    let hash = password::hash(credentials.password).await?;
    let user = users::insert(&state.app.services.db, &email, &hash)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "email_taken",
                "an account with this email already exists; log in instead",
            )
        })?;
    tracing::info!(user_id = %user.id, "account created");
    // The account exists whatever happens to its welcome: a queue outage
    // costs the welcome, not the sign-up.
    if let Err(e) = state.welcome.push(WelcomeUser { user_id: user.id }).await {
        tracing::warn!(user_id = %user.id, error = %e, "welcome not queued");
    }
    let sessions = &state.app.sessions;
    let session = sessions.issue(user.id)?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, sessions.cookie(&session))],
        Json(UserResponse { user }),
    )
        .into_response())
}

/// Checks credentials under the rate limit; the user on success.
async fn authenticate(state: &Accounts, credentials: Credentials) -> Result<User, ApiError> {
    let db = &state.app.services.db;
    let email = normalize_email(&credentials.email);
    state.limiter.ensure_allowed(&email).await?;
    let found = users::credentials_by_email(db, &email).await?;
    let (id, hash) = match found {
        Some(c) => (Some(c.id), Some(c.password_hash)),
        None => (None, None),
    };
    if !password::verify(credentials.password, hash).await? {
        state.limiter.record_failure(&email).await?;
        return Err(invalid_credentials());
    }
    state.limiter.reset(&email).await?;
    let id = id.ok_or_else(invalid_credentials)?;
    users::by_id(db, id).await?.ok_or_else(invalid_credentials)
}

fn invalid_credentials() -> ApiError {
    ApiError::refused(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "invalid email or password",
    )
}

/// Log in and set the session cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = UserResponse),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until logins are accepted again"))),
    ))]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<Accounts>,
    Json(credentials): Json<Credentials>,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, credentials).await?;
    let sessions = &state.app.sessions;
    let session = sessions.issue(user.id)?;
    Ok((
        [(header::SET_COOKIE, sessions.cookie(&session))],
        Json(UserResponse { user }),
    )
        .into_response())
}

/// Log in and receive a bearer token instead of a cookie (for scripts).
#[utoipa::path(post, path = "/api/auth/token", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
async fn token(
    State(state): State<Accounts>,
    Json(credentials): Json<Credentials>,
) -> Result<Json<TokenResponse>, ApiError> {
    let user = authenticate(&state, credentials).await?;
    let session = state.app.sessions.issue(user.id)?;
    Ok(Json(TokenResponse {
        token: session.token,
        expires_at: session.expires_at,
    }))
}

/// Clear the session cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "Session cookie cleared")))]
async fn logout(State(state): State<Accounts>) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.app.sessions.clearing_cookie())],
    )
        .into_response()
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses(
        (status = 200, description = "The signed-in user", body = UserResponse),
        (status = 401, description = "No valid session", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn me(State(state): State<Accounts>, user: AuthUser) -> Result<Json<UserResponse>, ApiError> {
    // A valid token for a deleted account is no session.
    let user = users::by_id(&state.app.services.db, user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(Json(UserResponse { user }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(email: &str, password: &str) -> Credentials {
        Credentials {
            email: email.into(),
            password: password.into(),
        }
    }

    #[test]
    fn emails_are_normalized() {
        let email = validate_signup(&creds("  Ada@Example.COM ", "long enough")).expect("valid");
        assert_eq!(email, "ada@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for email in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@.com",
        ] {
            let err = validate_signup(&creds(email, "long enough")).expect_err(email);
            assert!(
                matches!(err, ApiError::Validation(f) if f[0].field == "email"),
                "{email}"
            );
        }
    }

    #[test]
    fn password_length_is_bounded() {
        for password in ["short", &"x".repeat(129)] {
            let err = validate_signup(&creds("ada@example.com", password)).expect_err("bounded");
            assert!(matches!(err, ApiError::Validation(f) if f[0].field == "password"));
        }
    }
}
