//! Sessions: a JWT signed with `JWT_SECRET`, carried in an HttpOnly,
//! SameSite=Strict cookie (Secure in production) for the browser, or in an
//! `Authorization: Bearer` header for scripts.
//!
//! Sessions are stateless: logging out clears the cookie, and a copied token
//! stays valid until it expires (`SESSION_TTL_SECS`). Rotating `JWT_SECRET`
//! ends every session at once.

use std::time::Duration;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, header, request::Parts},
};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

pub const COOKIE_NAME: &str = "beacon_session";

pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
    secure_cookie: bool,
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
    pub fn new(secret: &str, ttl: Duration, secure_cookie: bool) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            ttl,
            secure_cookie,
        }
    }

    pub fn issue(&self, user_id: Uuid) -> Result<Session, ApiError> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::days(7));
        let expires_at = now + ttl;
        let claims = Claims {
            sub: user_id,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("signing a session"))
        })?;
        Ok(Session { token, expires_at })
    }

    fn verify(&self, token: &str) -> Option<Uuid> {
        let validation = Validation::new(Algorithm::HS256);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims.sub)
    }

    pub fn cookie(&self, session: &Session) -> HeaderValue {
        self.cookie_value(&session.token, self.ttl.as_secs())
    }

    pub fn clearing_cookie(&self) -> HeaderValue {
        self.cookie_value("", 0)
    }

    fn cookie_value(&self, token: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
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

/// The signed-in user. Extracting it answers 401 when there is no valid session.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Uuid,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)
            .or_else(|| cookie_token(&parts.headers))
            .ok_or(ApiError::Unauthorized)?;
        let id = state.sessions.verify(token).ok_or(ApiError::Unauthorized)?;
        Ok(Self { id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(
            "0123456789abcdef0123456789abcdef",
            Duration::from_secs(60),
            true,
        )
    }

    #[test]
    fn issued_sessions_verify_and_tampered_ones_do_not() {
        let keys = keys();
        let user = Uuid::now_v7();
        let session = keys.issue(user).expect("issue");
        assert_eq!(keys.verify(&session.token), Some(user));
        let other = SessionKeys::new(
            "another-secret-another-secret-xx",
            Duration::from_secs(60),
            true,
        );
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
