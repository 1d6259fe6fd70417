//! Twelve-factor settings: every value comes from one environment variable,
//! with a default that suits local development, read and checked once at start-up.
//!
//! A bad value stops the process with one line that names the variable and the
//! fix (exit code 2), never a panic: on Fly the line lands in `fly logs`, and a
//! backtrace there helps nobody.

use std::{fmt, str::FromStr, time::Duration};

/// Exit code for a configuration mistake, distinct from a crash (1).
pub const EXIT_CONFIG: i32 = 2;

/// A setting that is wrong or missing, with the variable it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }

    /// Prints the one line and exits with [`EXIT_CONFIG`].
    pub fn exit(&self) -> ! {
        eprintln!("{self}");
        std::process::exit(EXIT_CONFIG)
    }
}

/// A value that must never reach a log line or an error body.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the process runs. Production refuses development defaults for secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

impl FromStr for AppEnv {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            _ => Err("must be `development` or `production`".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err("must be `pretty` or `json`".into()),
        }
    }
}

/// Reads variables from a source; the process environment in production,
/// a map in tests (so config tests never touch global state).
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

impl Default for Env<'_> {
    fn default() -> Self {
        Self::from_process()
    }
}

impl<'a> Env<'a> {
    pub fn from_process() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
        }
    }

    pub fn from_pairs(pairs: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            lookup: Box::new(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }),
        }
    }

    /// The raw value; an empty string counts as unset, as `fly secrets` and
    /// compose files make empty values easily.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &'static str, hint: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::new(name, format!("is not set: {hint}")))
    }

    pub fn or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(name, format!("is `{raw}`: {e}"))),
        }
    }

    /// A whole number within bounds, so a typo like `PORT=80800` is caught here.
    pub fn bounded(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let value: u64 = self.or(name, default)?;
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(
                name,
                format!("is {value}: must be between {min} and {max}"),
            ))
        }
    }

    pub fn port(&self, name: &'static str, default: u16) -> Result<u16, ConfigError> {
        // Port 0 asks the OS for a free port; tests rely on it.
        let port = self.bounded(name, u64::from(default), 0, 65_535)?;
        u16::try_from(port).map_err(|_| ConfigError::new(name, "is not a port number"))
    }

    pub fn seconds(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        self.bounded(name, default, min, max)
            .map(Duration::from_secs)
    }

    pub fn millis(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        self.bounded(name, default, min, max)
            .map(Duration::from_millis)
    }

    /// A URL with one of the given schemes. The value is not echoed back: URLs
    /// carry passwords.
    pub fn url(
        &self,
        name: &'static str,
        schemes: &[&str],
        dev_default: Option<&str>,
        app_env: AppEnv,
    ) -> Result<Secret, ConfigError> {
        let example = dev_default.unwrap_or("");
        let raw = match (self.get(name), app_env, dev_default) {
            (Some(raw), _, _) => raw,
            (None, AppEnv::Development, Some(default)) => default.to_owned(),
            (None, _, _) => {
                return Err(ConfigError::new(
                    name,
                    format!("is not set: set it to a URL like {example}"),
                ));
            }
        };
        let parsed = url::Url::parse(raw.trim()).map_err(|e| {
            ConfigError::new(
                name,
                format!("is not a valid URL ({e}): expected e.g. {example}"),
            )
        })?;
        if !schemes.contains(&parsed.scheme()) {
            return Err(ConfigError::new(
                name,
                format!(
                    "has scheme `{}`: expected one of {}",
                    parsed.scheme(),
                    schemes.join(", ")
                ),
            ));
        }
        Ok(Secret::new(raw.trim()))
    }
}

/// The settings every Beacon process reads.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub database: DatabaseConfig,
    pub redis_url: Secret,
    pub nats_url: Secret,
    pub fly: FlyContext,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: Secret,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// What Fly injects into every machine; all absent when running locally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlyContext {
    pub app_name: Option<String>,
    pub region: Option<String>,
    pub machine_id: Option<String>,
    pub primary_region: Option<String>,
}

pub const DEV_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/beacon";
pub const DEV_REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const DEV_NATS_URL: &str = "nats://127.0.0.1:4222";

impl CommonConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let app_env = env.or("APP_ENV", AppEnv::Development)?;
        let default_format = match app_env {
            AppEnv::Development => LogFormat::Pretty,
            AppEnv::Production => LogFormat::Json,
        };
        Ok(Self {
            app_env,
            log_format: env.or("LOG_FORMAT", default_format)?,
            database: DatabaseConfig {
                url: env.url(
                    "DATABASE_URL",
                    &["postgres", "postgresql"],
                    Some(DEV_DATABASE_URL),
                    app_env,
                )?,
                max_connections: u32::try_from(env.bounded(
                    "DATABASE_MAX_CONNECTIONS",
                    10,
                    1,
                    500,
                )?)
                .unwrap_or(10),
                acquire_timeout: env.seconds("DATABASE_ACQUIRE_TIMEOUT_SECS", 5, 1, 120)?,
            },
            redis_url: env.url(
                "REDIS_URL",
                &["redis", "rediss"],
                Some(DEV_REDIS_URL),
                app_env,
            )?,
            nats_url: env.url("NATS_URL", &["nats", "tls"], Some(DEV_NATS_URL), app_env)?,
            fly: FlyContext {
                app_name: env.get("FLY_APP_NAME"),
                region: env.get("FLY_REGION"),
                machine_id: env.get("FLY_MACHINE_ID"),
                primary_region: env.get("PRIMARY_REGION"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_defaults_need_no_variables() {
        let config = CommonConfig::from_env(&Env::from_pairs(&[])).expect("defaults are valid");
        assert_eq!(config.app_env, AppEnv::Development);
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert_eq!(config.database.url.expose(), DEV_DATABASE_URL);
    }

    #[test]
    fn production_requires_urls_and_names_the_variable() {
        let err = CommonConfig::from_env(&Env::from_pairs(&[("APP_ENV", "production")]))
            .expect_err("production has no defaults");
        assert_eq!(err.var, "DATABASE_URL");
        assert!(
            err.to_string()
                .starts_with("configuration error: DATABASE_URL is not set")
        );
    }

    #[test]
    fn production_logs_json_by_default() {
        let config = CommonConfig::from_env(&Env::from_pairs(&[
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://u:p@db/beacon"),
            ("REDIS_URL", "redis://cache:6379"),
            ("NATS_URL", "nats://bus:4222"),
        ]))
        .expect("complete production config");
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn malformed_values_name_the_variable_and_the_fix() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "APP_ENV",
                "staging",
                "must be `development` or `production`",
            ),
            ("LOG_FORMAT", "xml", "must be `pretty` or `json`"),
            (
                "DATABASE_URL",
                "mysql://x/y",
                "expected one of postgres, postgresql",
            ),
            ("REDIS_URL", "not a url", "is not a valid URL"),
            ("DATABASE_MAX_CONNECTIONS", "0", "must be between 1 and 500"),
            ("DATABASE_MAX_CONNECTIONS", "lots", "is `lots`"),
        ];
        for (var, value, expected) in cases {
            let pairs = [(*var, *value)];
            let err = CommonConfig::from_env(&Env::from_pairs(&pairs))
                .expect_err("malformed value is refused");
            assert_eq!(err.var, *var);
            assert!(err.to_string().contains(expected), "{err} lacks {expected}");
        }
    }

    #[test]
    fn url_errors_never_echo_the_value() {
        let pairs = [("DATABASE_URL", "mysql://user:hunter2@db/beacon")];
        let err = CommonConfig::from_env(&Env::from_pairs(&pairs)).expect_err("wrong scheme");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = CommonConfig::from_env(&Env::from_pairs(&[])).expect("defaults");
        assert!(!format!("{config:?}").contains("127.0.0.1:5432"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs(&[("PORT", "  ")]);
        assert_eq!(env.port("PORT", 8080), Ok(8080));
    }
}
