//! Sessions: a JWT signed with `JWT_SECRET`, carried in an HttpOnly,
//! SameSite=Strict cookie (Secure in production) for the browser, or in an
//! `Authorization: Bearer` header for scripts.
//!
//! A token is checked by its signature and expiry, then against Redis, in
//! one round trip: logging out revokes that token (its id is kept until it
//! would have expired anyway), and "log out everywhere" moves the user's
//! session generation on, which voids every token issued before. Rotating
//! `JWT_SECRET` ends every session at once. Ending a session also ends its
//! open event streams, on every machine ([`crate::live::SESSION_ENDED`]).

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderMap, HeaderValue, header, request::Parts},
};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    config::{AppEnv, ConfigError, Env, Secret},
    http::ApiError,
    live,
};

pub const COOKIE_NAME: &str = "beacon_session";

/// The development JWT secret. Production refuses to start without its own.
pub const DEV_JWT_SECRET: &str = "beacon-development-secret-do-not-use-in-production";
const MIN_JWT_SECRET_LEN: usize = 32;
/// `openssl rand -hex 32` scores about 240; a word repeated to length, 90.
const MIN_JWT_SECRET_BITS: f64 = 128.0;

/// A secret's entropy estimated from its own characters: the Shannon
/// entropy of their frequencies times its length. It cannot see that a
/// sentence is guessable, but it does see repetition and small alphabets,
/// the usual shape of a secret typed by hand.
fn estimated_entropy_bits(secret: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in secret.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let len = secret.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&n| {
            let p = n as f64 / len;
            -p * p.log2()
        })
        .sum();
    per_char * len
}

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
                    let bits = estimated_entropy_bits(secret);
                    if secret.len() < MIN_JWT_SECRET_LEN {
                        Err(format!(
                            "is too short: use at least {MIN_JWT_SECRET_LEN} random characters, e.g. `openssl rand -hex 32`"
                        ))
                    } else if bits < MIN_JWT_SECRET_BITS {
                        Err(format!(
                            "is too predictable (about {bits:.0} bits of entropy, {MIN_JWT_SECRET_BITS:.0} needed): use `openssl rand -hex 32`"
                        ))
                    } else {
                        Ok(())
                    }
                },
            )?;
        Ok(Self {
            jwt_secret,
            ttl: env
                .var(
                    "SESSION_TTL_SECS",
                    "session lifetime in seconds; an open event stream ends with its session",
                )
                .secs(12 * 3600, 60..=30 * 24 * 3600)?,
            secure_cookie: app_env == AppEnv::Production,
        })
    }
}

/// Signs, checks and revokes sessions. Cloning is cheap.
#[derive(Clone)]
pub struct SessionKeys(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    secure_cookie: bool,
    redis: ConnectionManager,
    /// Where an ended session is announced, so its streams end.
    nats: async_nats::Client,
    /// `<prefix>:session:`.
    prefix: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    /// The token's own id, for revoking just this one.
    jti: Uuid,
    /// The user's session generation when it was issued.
    generation: u64,
    iat: i64,
    exp: i64,
}

/// A freshly signed session.
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl SessionKeys {
    /// `redis` holds revocations, under `<prefix>:session:`; `nats` carries
    /// the word that a session ended to every machine's streams.
    pub fn new(
        config: &SessionConfig,
        redis: ConnectionManager,
        nats: async_nats::Client,
        prefix: &str,
    ) -> Self {
        let secret = config.jwt_secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        // jsonwebtoken accepts a token 60 s past its expiry by default.
        validation.leeway = 0;
        Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl: config.ttl,
            secure_cookie: config.secure_cookie,
            redis,
            nats,
            prefix: format!("{prefix}:session:"),
        }))
    }

    fn revoked_key(&self, jti: Uuid) -> String {
        format!("{}revoked:{jti}", self.0.prefix)
    }

    fn generation_key(&self, user_id: Uuid) -> String {
        format!("{}generation:{user_id}", self.0.prefix)
    }

    pub async fn issue(&self, user_id: Uuid) -> Result<Session, ApiError> {
        let generation: Option<u64> = redis::cmd("GET")
            .arg(self.generation_key(user_id))
            .query_async(&mut self.0.redis.clone())
            .await
            .map_err(unavailable)?;
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.0.ttl).unwrap_or(chrono::Duration::hours(12));
        let expires_at = now + ttl;
        let claims = Claims {
            sub: user_id,
            jti: Uuid::new_v4(),
            generation: generation.unwrap_or(0),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a session")))?;
        Ok(Session { token, expires_at })
    }

    /// The signature and expiry alone: no Redis. `None` when either fails.
    fn decode(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .ok()
            .map(|data| data.claims)
            // jsonwebtoken still accepts a token during its `exp` second; a
            // session (and its event stream) ends at `exp`.
            .filter(|claims| claims.exp > Utc::now().timestamp())
    }

    /// The signed-in user, or `None` for a token that is forged, expired,
    /// logged out or older than the user's last "log out everywhere".
    pub async fn verify(&self, token: &str) -> Result<Option<AuthUser>, ApiError> {
        let Some(claims) = self.decode(token) else {
            return Ok(None);
        };
        let (revoked, generation): (bool, Option<u64>) = redis::pipe()
            .exists(self.revoked_key(claims.jti))
            .get(self.generation_key(claims.sub))
            .query_async(&mut self.0.redis.clone())
            .await
            .map_err(unavailable)?;
        if revoked || generation.unwrap_or(0) != claims.generation {
            return Ok(None);
        }
        Ok(
            DateTime::from_timestamp(claims.exp, 0).map(|expires_at| AuthUser {
                id: claims.sub,
                session: claims.jti,
                expires_at,
            }),
        )
    }

    /// Ends this token: kept as revoked until it would have expired.
    pub async fn revoke(&self, token: &str) -> Result<(), ApiError> {
        let Some(claims) = self.decode(token) else {
            return Ok(());
        };
        let left = claims.exp - Utc::now().timestamp();
        if left <= 0 {
            return Ok(());
        }
        redis::cmd("SET")
            .arg(self.revoked_key(claims.jti))
            .arg(1)
            .arg("EX")
            .arg(left)
            .query_async::<()>(&mut self.0.redis.clone())
            .await
            .map_err(unavailable)?;
        self.announce_end(claims.sub, Some(claims.jti)).await;
        Ok(())
    }

    /// Ends every session of the user issued until now. The generation
    /// outlives every token it voids: its expiry is renewed to a full
    /// session lifetime.
    pub async fn revoke_all(&self, user_id: Uuid) -> Result<(), ApiError> {
        let key = self.generation_key(user_id);
        redis::pipe()
            .atomic()
            .incr(&key, 1)
            .ignore()
            .expire(&key, self.0.ttl.as_secs().max(1) as i64)
            .ignore()
            .query_async::<()>(&mut self.0.redis.clone())
            .await
            .map_err(unavailable)?;
        self.announce_end(user_id, None).await;
        Ok(())
    }

    /// Tells every machine that `session` of the user (`None`: all of them)
    /// ended, so their streams end. The revocation is what stops the token;
    /// if this is lost, the streams end at the next reconnect, which asks
    /// Redis again.
    async fn announce_end(&self, user_id: Uuid, session: Option<Uuid>) {
        live::publish(
            &self.0.nats,
            user_id,
            live::SESSION_ENDED,
            &live::SessionEnded { session },
        )
        .await;
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

fn unavailable(e: redis::RedisError) -> ApiError {
    tracing::error!(error = %e, "sessions cannot be checked: Redis is unreachable");
    ApiError::unavailable(
        "sessions_unavailable",
        "sessions cannot be checked right now; try again shortly",
    )
}

/// The session token a request carries: a bearer token, else the cookie.
pub fn request_token(headers: &HeaderMap) -> Option<&str> {
    bearer_token(headers).or_else(|| cookie_token(headers))
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
    /// The session (the token's id): its streams end with it.
    pub session: Uuid,
    /// When the session ends: long-lived responses end with it.
    pub expires_at: DateTime<Utc>,
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    SessionKeys: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = request_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        SessionKeys::from_ref(state)
            .verify(token)
            .await?
            .ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys whose Redis is never reached: cookies need none.
    async fn keys() -> SessionKeys {
        let nowhere =
            crate::connections::connect_redis(&Secret::new("redis://127.0.0.1:1")).expect("lazy");
        // Never reached either: retried in the background.
        let no_nats = crate::connections::connect_nats(&Secret::new("nats://127.0.0.1:1"), "test")
            .await
            .expect("lazy");
        SessionKeys::new(
            &SessionConfig {
                jwt_secret: Secret::new("0123456789abcdef0123456789abcdef"),
                ttl: Duration::from_secs(60),
                secure_cookie: true,
            },
            nowhere,
            no_nats,
            "test",
        )
    }

    #[test]
    fn secrets_typed_by_hand_are_refused_and_random_ones_pass() {
        let check = |secret: &str| {
            SessionConfig::from_env(
                &Env::from_pairs(&[("JWT_SECRET", secret)]),
                AppEnv::Production,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert!(
            check(DEV_JWT_SECRET)
                .expect_err("public")
                .contains("JWT_SECRET is the development value")
        );
        for weak in [
            "a".repeat(64),
            "5f".repeat(32),
            "passwordpasswordpasswordpassword".to_owned(),
        ] {
            assert!(
                check(&weak).expect_err(&weak).contains("too predictable"),
                "{weak}"
            );
        }
        assert!(check("short").expect_err("short").contains("too short"));
        for random in [
            "8c1d0f5e3b7a92c4e6f1d8b3a5c7e9f20d4b6a8c1e3f5a7b9d2c4e6f8a0b1c3d",
            "q3Vx9K2mT7pL4sN8wR1yB6zF0hJ5cD3g",
        ] {
            assert_eq!(check(random), Ok(()), "{random}");
        }
    }

    #[tokio::test]
    async fn production_cookies_are_secure_httponly_and_strict() {
        let keys = keys().await;
        let session = Session {
            token: "abc.def.ghi".into(),
            expires_at: Utc::now(),
        };
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
