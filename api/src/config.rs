//! The API's settings. Every variable, its default and its bounds are listed
//! here and in the README's configuration table.

use std::time::Duration;

use common::config::{AppEnv, CommonConfig, ConfigError, Env, Secret};

/// The development JWT secret. Production refuses to start without its own.
const DEV_JWT_SECRET: &str = "beacon-development-secret-do-not-use-in-production";
const MIN_JWT_SECRET_LEN: usize = 32;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub common: CommonConfig,
    /// HTTP port on `[::]` (`PORT`, default 8080; 0 picks a free one).
    pub port: u16,
    /// Prometheus port on `[::]` (`METRICS_PORT`, default 9091).
    pub metrics_port: u16,
    pub jwt_secret: Secret,
    pub session_ttl: Duration,
    /// A request that has not produced a response by then gets 408, so a hung
    /// request cannot hold up graceful shutdown.
    pub request_timeout: Duration,
    /// After SIGTERM, how long in-flight requests get to finish. Fly's
    /// `kill_timeout` must be longer.
    pub shutdown_timeout: Duration,
    pub body_limit_bytes: usize,
    pub login_max_failures: u32,
    pub login_lockout: Duration,
    pub max_monitors_per_user: i64,
    pub check_queue: String,
    /// Each dependency gets this long to answer `/api/ready`.
    pub readiness_timeout: Duration,
    /// A comment on idle SSE streams this often, well inside the idle
    /// timeouts of Fly's proxy and nginx (60 s).
    pub sse_keepalive: Duration,
}

impl ApiConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let jwt_secret = match (env.get("JWT_SECRET"), common.app_env) {
            (Some(secret), _) if secret.len() >= MIN_JWT_SECRET_LEN => Secret::new(secret),
            (Some(_), _) => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    format!(
                        "is too short: use at least {MIN_JWT_SECRET_LEN} random characters, e.g. `openssl rand -hex 32`"
                    ),
                ));
            }
            (None, AppEnv::Development) => Secret::new(DEV_JWT_SECRET),
            (None, AppEnv::Production) => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    "is not set: generate one with `openssl rand -hex 32` and set it as a secret",
                ));
            }
        };
        Ok(Self {
            port: env.port("PORT", 8080)?,
            metrics_port: env.port("METRICS_PORT", 9091)?,
            jwt_secret,
            session_ttl: env.seconds("SESSION_TTL_SECS", 7 * 24 * 3600, 60, 90 * 24 * 3600)?,
            request_timeout: env.seconds("REQUEST_TIMEOUT_SECS", 15, 1, 300)?,
            shutdown_timeout: env.seconds("SHUTDOWN_TIMEOUT_SECS", 20, 0, 600)?,
            body_limit_bytes: usize::try_from(env.bounded(
                "BODY_LIMIT_BYTES",
                64 * 1024,
                1024,
                16 * 1024 * 1024,
            )?)
            .unwrap_or(64 * 1024),
            login_max_failures: u32::try_from(env.bounded("LOGIN_MAX_FAILURES", 5, 1, 1000)?)
                .unwrap_or(5),
            login_lockout: env.seconds("LOGIN_LOCKOUT_SECS", 15 * 60, 1, 24 * 3600)?,
            max_monitors_per_user: i64::try_from(env.bounded(
                "MAX_MONITORS_PER_USER",
                50,
                1,
                10_000,
            )?)
            .unwrap_or(50),
            check_queue: env
                .get("CHECK_QUEUE")
                .unwrap_or_else(|| common::jobs::CHECK_QUEUE.to_owned()),
            readiness_timeout: env.millis("READINESS_TIMEOUT_MS", 1000, 50, 30_000)?,
            sse_keepalive: env.seconds("SSE_KEEPALIVE_SECS", 15, 1, 50)?,
            common,
        })
    }

    pub fn is_production(&self) -> bool {
        self.common.app_env == AppEnv::Production
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production(extra: &[(&'static str, &'static str)]) -> Result<ApiConfig, ConfigError> {
        let mut pairs = vec![
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://u:p@db/beacon"),
            ("REDIS_URL", "redis://cache:6379"),
            ("NATS_URL", "nats://bus:4222"),
        ];
        pairs.extend_from_slice(extra);
        ApiConfig::from_env(&Env::from_pairs(&pairs))
    }

    #[test]
    fn defaults_match_the_documented_ports() {
        let config = ApiConfig::from_env(&Env::from_pairs(&[])).expect("defaults");
        assert_eq!((config.port, config.metrics_port), (8080, 9091));
        assert_eq!(config.check_queue, common::jobs::CHECK_QUEUE);
    }

    #[test]
    fn production_requires_a_jwt_secret() {
        let err = production(&[]).expect_err("no secret");
        assert_eq!(err.var, "JWT_SECRET");
        assert!(err.to_string().contains("openssl rand -hex 32"));
    }

    #[test]
    fn short_jwt_secrets_are_refused_without_echoing_them() {
        let err = production(&[("JWT_SECRET", "hunter2")]).expect_err("short secret");
        assert_eq!(err.var, "JWT_SECRET");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn out_of_range_numbers_name_the_variable() {
        for (var, value) in [
            ("PORT", "80800"),
            ("REQUEST_TIMEOUT_SECS", "0"),
            ("LOGIN_MAX_FAILURES", "-1"),
        ] {
            let pairs = [(var, value)];
            let err = ApiConfig::from_env(&Env::from_pairs(&pairs)).expect_err("refused");
            assert_eq!(err.var, var);
        }
    }

    #[test]
    fn a_complete_production_config_loads() {
        let secret = "0123456789abcdef0123456789abcdef";
        let config = production(&[("JWT_SECRET", secret)]).expect("valid");
        assert!(config.is_production());
    }
}
