//! The limits on the ways in: log in, bearer tokens and sign up.
//!
//! A login attempt is counted before its password is checked, in one Redis
//! step ([`platform::limit`]), against two limits:
//!
//! - **per address** (`LOGIN_MAX_PER_ADDRESS`): one client trying many
//!   emails (password spraying) is stopped, whatever emails it tries;
//! - **per account** (`LOGIN_MAX_FAILURES`): many clients guessing one
//!   password are stopped. An address the account has logged in from
//!   before (the last [`KNOWN_ADDRESSES`], for [`KNOWN_FOR`]) has a counter
//!   of its own, so strangers who exhaust the account's shared counter do not
//!   lock its owner out at home. From a new address during such an attack
//!   the owner gets the same 429 as the attacker, until the window ends.
//!
//! A successful login gives its hits back and starts its account counter
//! over. Sign-ups are counted per address (`SIGNUP_MAX_PER_ADDRESS`) before
//! the password is hashed.

use std::time::Duration;

use platform::{
    config::{ConfigError, Env},
    http::{ApiError, ClientAddress},
    limit::{self, Limit, Limiter},
};
use redis::aio::ConnectionManager;

/// How many addresses an account remembers, and for how long.
pub const KNOWN_ADDRESSES: isize = 10;
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub login_max_failures: u32,
    pub login_max_per_address: u32,
    pub login_window: Duration,
    pub signup_max_per_address: u32,
    pub signup_window: Duration,
}

impl LimitSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            login_max_failures: env
                .var(
                    "LOGIN_MAX_FAILURES",
                    "login attempts per account in one window (from addresses it has not logged in from; each known address has as many of its own); then 429",
                )
                .number(5, 1..=1000)?,
            login_max_per_address: env
                .var(
                    "LOGIN_MAX_PER_ADDRESS",
                    "login and token attempts per client address in one window, whatever the email; then 429",
                )
                .number(30, 1..=100_000)?,
            login_window: env
                .var(
                    "LOGIN_LOCKOUT_SECS",
                    "the login windows, counted from their first attempt",
                )
                .secs(15 * 60, 1..=24 * 3600)?,
            signup_max_per_address: env
                .var(
                    "SIGNUP_MAX_PER_ADDRESS",
                    "sign-ups per client address in one window; then 429",
                )
                .number(5, 1..=100_000)?,
            signup_window: env
                .var("SIGNUP_WINDOW_SECS", "the sign-up window")
                .secs(3600, 1..=7 * 24 * 3600)?,
        })
    }
}

pub struct Gate {
    limits: Limiter,
    redis: ConnectionManager,
    known_prefix: String,
    settings: LimitSettings,
}

/// A login attempt that was let through: what to give back if it succeeds.
pub struct Attempt {
    account_key: String,
    address_key: String,
    known_key: String,
    address: String,
}

impl Gate {
    pub fn new(
        limits: Limiter,
        redis: ConnectionManager,
        prefix: &str,
        settings: LimitSettings,
    ) -> Self {
        Self {
            limits,
            redis,
            known_prefix: format!("{prefix}:login:known:"),
            settings,
        }
    }

    /// The addresses `email` has logged in from, newest last.
    fn known_key(&self, email: &str) -> String {
        format!("{}{email}", self.known_prefix)
    }

    /// Counts a login attempt for `email` (normalized, at most 254
    /// characters) from `client`, or refuses it with 429.
    pub async fn login(&self, email: &str, client: ClientAddress) -> Result<Attempt, ApiError> {
        let address = client.limit_key();
        let known_key = self.known_key(email);
        let known: Option<f64> = redis::cmd("ZSCORE")
            .arg(&known_key)
            .arg(&address)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(limit::unavailable)?;
        let account_key = match known {
            Some(_) => format!("login:account:{email}:{address}"),
            None => format!("login:account:{email}"),
        };
        let address_key = format!("login:address:{address}");
        let window = self.settings.login_window;
        self.limits
            .check(
                &[
                    Limit::new(&address_key, self.settings.login_max_per_address, window),
                    Limit::new(&account_key, self.settings.login_max_failures, window),
                ],
                "too many login attempts; try again in {secs} seconds",
            )
            .await?;
        Ok(Attempt {
            account_key,
            address_key,
            known_key,
            address,
        })
    }

    /// The attempt was the account's owner: give the address its hit back,
    /// start the account's counter over and remember the address.
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), ApiError> {
        self.limits.refund(&[&attempt.address_key]).await?;
        self.limits.reset(&[&attempt.account_key]).await?;
        self.remember(&attempt.known_key, &attempt.address).await
    }

    /// Counts a sign-up from `client`, or refuses it with 429.
    pub async fn signup(&self, client: ClientAddress) -> Result<(), ApiError> {
        let address = client.limit_key();
        self.limits
            .check(
                &[Limit::new(
                    format!("signup:address:{address}"),
                    self.settings.signup_max_per_address,
                    self.settings.signup_window,
                )],
                "too many sign-ups from your network; try again in {secs} seconds",
            )
            .await
    }

    /// Where an account was made is where its owner is: an address it
    /// logs in from.
    pub async fn remember_signup(
        &self,
        email: &str,
        client: ClientAddress,
    ) -> Result<(), ApiError> {
        self.remember(&self.known_key(email), &client.limit_key())
            .await
    }

    async fn remember(&self, known_key: &str, address: &str) -> Result<(), ApiError> {
        let now = chrono::Utc::now().timestamp();
        redis::pipe()
            .atomic()
            .zadd(known_key, address, now)
            .ignore()
            // Keep the newest few: a key per account, bounded.
            .zremrangebyrank(known_key, 0, -(KNOWN_ADDRESSES + 1))
            .ignore()
            .expire(known_key, KNOWN_FOR.as_secs() as i64)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await
            .map_err(limit::unavailable)
    }
}
