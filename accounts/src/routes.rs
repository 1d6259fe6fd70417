//! The accounts API area: sign up, log in, log out (here or everywhere),
//! who am I, and a bearer token for scripts.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use platform::{
    area::{Api, Area},
    config::{ConfigError, Env},
    http::{ApiError, ClientAddress, ErrorBody, FieldError, Json},
    queue::Queue,
    session::{AuthUser, request_token},
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    limits::{Gate, LimitSettings},
    password::Hasher,
    users::{self, User},
    welcome::WelcomeUser,
};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
/// RFC 5321's limit; it also bounds the Redis keys an email becomes.
pub const MAX_EMAIL_CHARS: usize = 254;

/// The area's settings: its limits and how passwords are hashed.
pub struct AccountSettings {
    pub limits: LimitSettings,
    pub hasher: Hasher,
}

impl AccountSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            limits: LimitSettings::from_env(env)?,
            hasher: Hasher::from_env(env)?,
        })
    }
}

#[derive(OpenApi)]
#[openapi(tags((name = "auth", description = "Accounts and sessions")))]
struct AccountsDoc;

/// The area's own part of its state.
struct Accounts {
    gate: Gate,
    hasher: Hasher,
    welcome: Queue<WelcomeUser>,
}

/// `/api/auth/*`.
pub fn routes(api: &Api) -> Result<OpenApiRouter, ConfigError> {
    let settings = AccountSettings::from_env(api.env())?;
    let app = &api.app;
    let state = api.area(Accounts {
        gate: Gate::new(
            app.limits.clone(),
            app.redis.clone(),
            &app.config.queue_prefix,
            settings.limits,
        ),
        hasher: settings.hasher,
        welcome: app.queues.queue(),
    });
    Ok(OpenApiRouter::with_openapi(AccountsDoc::openapi())
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(token))
        .routes(routes!(logout))
        .routes(routes!(logout_everywhere))
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

/// The one answer to a sign-up, whether or not the email had an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub message: &'static str,
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

/// The email, normalized, if it fits in the limits every key and column
/// has; a problem with it otherwise.
fn checked_email(raw: &str) -> Result<String, FieldError> {
    let email = normalize_email(raw);
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(FieldError::new(
            "email",
            format!("must be at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
    let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !email.chars().any(char::is_whitespace);
    if well_formed {
        Ok(email)
    } else {
        Err(FieldError::new(
            "email",
            "must be an email address like ada@example.com",
        ))
    }
}

fn password_problem(password: &str) -> Option<FieldError> {
    let chars = password.chars().count();
    (!(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars)).then(|| {
        FieldError::new(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        )
    })
}

fn validate_signup(credentials: &Credentials) -> Result<String, ApiError> {
    let email = checked_email(&credentials.email);
    let problems: Vec<FieldError> = email
        .as_ref()
        .err()
        .cloned()
        .into_iter()
        .chain(password_problem(&credentials.password))
        .collect();
    match email {
        Ok(email) if problems.is_empty() => Ok(email),
        _ => Err(ApiError::Validation(problems)),
    }
}

/// A login's email and password within their bounds (nothing longer can
/// match an account), so no oversized string reaches Redis or argon2.
fn validate_login(credentials: &Credentials) -> Result<String, ApiError> {
    let email = normalize_email(&credentials.email);
    if email.is_empty() || email.chars().count() > MAX_EMAIL_CHARS {
        return Err(ApiError::field(
            "email",
            format!("must be 1 to {MAX_EMAIL_CHARS} characters"),
        ));
    }
    if credentials.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::field(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(email)
}

const SIGNUP_ACCEPTED: &str =
    "if this email had no account, it has one now: log in with it and your password";

/// Create an account. The answer is the same whether or not the email
/// already had one, so sign-up cannot be used to learn who has an account:
/// log in next, as the dashboard does.
#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = Credentials,
    responses(
        (status = 202, description = "Accepted; log in next", body = SignupResponse),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid email or password", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password hashes at once; see Retry-After", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
async fn signup(
    State(state): State<Area<Accounts>>,
    client: ClientAddress,
    Json(credentials): Json<Credentials>,
) -> Result<(StatusCode, Json<SignupResponse>), ApiError> {
    let email = validate_signup(&credentials)?;
    state.gate.signup(client).await?;
    // Hashed either way, so both answers take as long.
    let hash = state.hasher.hash(credentials.password).await?;
    match users::insert(&state.app().db, &email, &hash).await? {
        Some(user) => {
            tracing::info!(user_id = %user.id, "account created");
            state.gate.remember_signup(&email, client).await?;
            // The account exists whatever happens to its welcome: a queue
            // outage costs the welcome, not the sign-up.
            if let Err(e) = state.welcome.push(WelcomeUser { user_id: user.id }).await {
                tracing::warn!(user_id = %user.id, error = %e, "welcome not queued");
            }
        }
        // A product that sends mail would tell the owner here.
        None => tracing::info!("sign-up for an email that has an account; nothing changed"),
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(SignupResponse {
            message: SIGNUP_ACCEPTED,
        }),
    ))
}

/// Checks credentials under the login limits; the user on success.
async fn authenticate(
    state: &Area<Accounts>,
    client: ClientAddress,
    credentials: Credentials,
) -> Result<User, ApiError> {
    let db = &state.app().db;
    let email = validate_login(&credentials)?;
    let attempt = state.gate.login(&email, client).await?;
    let found = users::credentials_by_email(db, &email).await?;
    let (id, hash) = match found {
        Some(c) => (Some(c.id), Some(c.password_hash)),
        None => (None, None),
    };
    if !state.hasher.verify(credentials.password, hash).await? {
        return Err(invalid_credentials());
    }
    let id = id.ok_or_else(invalid_credentials)?;
    state.gate.succeeded(attempt).await?;
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
        (status = 422, description = "Email or password longer than any account's", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until logins are accepted again"))),
        (status = 503, description = "Too many password checks at once; see Retry-After", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<Area<Accounts>>,
    client: ClientAddress,
    Json(credentials): Json<Credentials>,
) -> Result<Response, ApiError> {
    let user = authenticate(&state, client, credentials).await?;
    let sessions = &state.api().sessions;
    let session = sessions.issue(user.id).await?;
    Ok((
        [(header::SET_COOKIE, sessions.cookie(&session))],
        Json(UserResponse { user }),
    )
        .into_response())
}

/// Log in and receive a bearer token instead of a cookie (for scripts).
/// Counted by the same limits as logging in.
#[utoipa::path(post, path = "/api/auth/token", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks at once; see Retry-After", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
async fn token(
    State(state): State<Area<Accounts>>,
    client: ClientAddress,
    Json(credentials): Json<Credentials>,
) -> Result<Json<TokenResponse>, ApiError> {
    let user = authenticate(&state, client, credentials).await?;
    let session = state.api().sessions.issue(user.id).await?;
    Ok(Json(TokenResponse {
        token: session.token,
        expires_at: session.expires_at,
    }))
}

/// End this session: the cookie is cleared and the token (cookie or bearer)
/// stops working on every machine.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "Session ended; the session cookie is cleared")))]
async fn logout(
    State(state): State<Area<Accounts>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sessions = &state.api().sessions;
    if let Some(token) = request_token(&headers) {
        sessions.revoke(token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, sessions.clearing_cookie())],
    )
        .into_response())
}

/// End every session of the signed-in user, on every device.
#[utoipa::path(post, path = "/api/auth/logout-everywhere", tag = "auth",
    responses(
        (status = 204, description = "Every session ended; the session cookie is cleared"),
        (status = 401, description = "No valid session", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn logout_everywhere(
    State(state): State<Area<Accounts>>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let sessions = &state.api().sessions;
    sessions.revoke_all(user.id).await?;
    tracing::info!(user_id = %user.id, "every session ended");
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, sessions.clearing_cookie())],
    )
        .into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses(
        (status = 200, description = "The signed-in user", body = UserResponse),
        (status = 401, description = "No valid session", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = [])))]
async fn me(
    State(state): State<Area<Accounts>>,
    user: AuthUser,
) -> Result<Json<UserResponse>, ApiError> {
    // A valid token for a deleted account is no session.
    let user = users::by_id(&state.app().db, user.id)
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

    #[test]
    fn emails_longer_than_any_account_are_refused_before_anything_else() {
        let long = format!("{}@example.com", "a".repeat(60_000));
        let err = validate_signup(&creds(&long, "long enough")).expect_err("long");
        assert!(matches!(err, ApiError::Validation(f) if f[0].message.contains("at most 254")));
        let err = validate_login(&creds(&long, "long enough")).expect_err("long");
        assert!(matches!(err, ApiError::Validation(f) if f[0].field == "email"));
        let err = validate_login(&creds("ada@example.com", &"x".repeat(129))).expect_err("long");
        assert!(matches!(err, ApiError::Validation(f) if f[0].field == "password"));
    }
}
