//! Sessions: a JWT signed with `JWT_SECRET`, carried in an HttpOnly,
//! SameSite=Strict cookie (Secure in production) for the browser, or in an
//! `Authorization: Bearer` header for scripts.
//!
//! Sessions are stateless: logging out clears the cookie, and a copied token
//! stays valid until it expires (`SESSION_TTL_SECS`). Rotating `JWT_SECRET`
//! ends every session at once.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, HeaderValue, header, request::Parts},
};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    config::{AppEnv, ConfigError, Env, Secret},
    http::{ApiError, AppState},
};

pub const COOKIE_NAME: &str = "beacon_session";

/// The development JWT secret. Production refuses to start without its own.
const DEV_JWT_SECRET: &str = "beacon-development-secret-do-not-use-in-production";
const MIN_JWT_SECRET_LEN: usize = 32;

/// How sessions are signed and how long they last.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub jwt_secret: Secret,
    pub ttl: Duration,
    /// Secure cookies (HTTPS only): on in production.
    pub secure_cookie: bool,
}

impl SessionConfig {
    pub fn from_env(env: &Env, app_env: AppEnv) -> Result<Self, ConfigError> {
        let jwt_secret = env
            .var(
                "JWT_SECRET",
                "session signing key, at least 32 characters (`openssl rand -hex 32`)",
            )
            .secret(
                DEV_JWT_SECRET,
                app_env,
                "generate one with `openssl rand -hex 32` and set it as a secret",
                |secret| {
                    if secret.len() >= MIN_JWT_SECRET_LEN {
                        Ok(())
                    } else {
                        Err(format!(
                            "is too short: use at least {MIN_JWT_SECRET_LEN} random characters, e.g. `openssl rand -hex 32`"
                        ))
                    }
                },
            )?;
        Ok(Self {
            jwt_secret,
            ttl: env
                .var("SESSION_TTL_SECS", "session lifetime in seconds")
                .secs(7 * 24 * 3600, 60..=90 * 24 * 3600)?,
            secure_cookie: app_env == AppEnv::Production,
        })
    }
}

/// Signs and checks sessions. Cloning is cheap.
#[derive(Clone)]
pub struct SessionKeys(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
    secure_cookie: bool,
}

impl FromRef<AppState> for SessionKeys {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iat: i64,
    exp: i64,
}

/// A freshly signed session.
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl SessionKeys {
    pub fn new(config: &SessionConfig) -> Self {
        let secret = config.jwt_secret.expose().as_bytes();
        Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl: config.ttl,
            secure_cookie: config.secure_cookie,
        }))
    }

    pub fn issue(&self, user_id: Uuid) -> Result<Session, ApiError> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.0.ttl).unwrap_or(chrono::Duration::days(7));
        let expires_at = now + ttl;
        let claims = Claims {
            sub: user_id,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a session")))?;
        Ok(Session { token, expires_at })
    }

    pub fn verify(&self, token: &str) -> Option<Uuid> {
        let validation = Validation::new(Algorithm::HS256);
        jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &validation)
            .ok()
            .map(|data| data.claims.sub)
    }

    pub fn cookie(&self, session: &Session) -> HeaderValue {
        self.cookie_value(&session.token, self.0.ttl.as_secs())
    }

    pub fn clearing_cookie(&self) -> HeaderValue {
        self.cookie_value("", 0)
    }

    fn cookie_value(&self, token: &str, max_age: u64) -> HeaderValue {
        let secure = if self.0.secure_cookie { "; Secure" } else { "" };
        let cookie = format!(
            "{COOKIE_NAME}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        );
        // A JWT is base64url and dots: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The signed-in user. Extracting it answers 401 when there is no valid
/// session. Works in any area whose state yields the [`SessionKeys`].
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Uuid,
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    SessionKeys: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)
            .or_else(|| cookie_token(&parts.headers))
            .ok_or_else(ApiError::unauthorized)?;
        let id = SessionKeys::from_ref(state)
            .verify(token)
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self { id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_with(secret: &str) -> SessionKeys {
        SessionKeys::new(&SessionConfig {
            jwt_secret: Secret::new(secret),
            ttl: Duration::from_secs(60),
            secure_cookie: true,
        })
    }

    fn keys() -> SessionKeys {
        keys_with("0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn issued_sessions_verify_and_tampered_ones_do_not() {
        let keys = keys();
        let user = Uuid::now_v7();
        let session = keys.issue(user).expect("issue");
        assert_eq!(keys.verify(&session.token), Some(user));
        let other = keys_with("another-secret-another-secret-xx");
        assert_eq!(other.verify(&session.token), None);
        assert_eq!(keys.verify("not.a.jwt"), None);
    }

    #[test]
    fn production_cookies_are_secure_httponly_and_strict() {
        let keys = keys();
        let session = keys.issue(Uuid::now_v7()).expect("issue");
        let cookie = keys.cookie(&session);
        let cookie = cookie.to_str().expect("ascii");
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; beacon_session=abc.def.ghi; lang=en"),
        );
        assert_eq!(cookie_token(&headers), Some("abc.def.ghi"));
    }
}
