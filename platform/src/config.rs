//! Twelve-factor settings: every value comes from one environment variable,
//! read and checked once at start-up.
//!
//! Each setting is declared once, where it is read: its name, what it means,
//! its default and its bounds, in one call:
//!
//! ```
//! # use platform::config::Env;
//! let env = Env::from_pairs(&[("PORT", "8081")]);
//! let port = env.var("PORT", "HTTP port, on `[::]`").port(8080)?;
//! assert_eq!(port, 8081);
//! # Ok::<(), platform::config::ConfigError>(())
//! ```
//!
//! The [`Env`] remembers every declaration it was asked for, so the README's
//! configuration table is checked against the code (`xtask/tests/docs.rs`).
//!
//! A bad value stops the process with one line that names the variable and the
//! fix (exit code 2), never a panic: on Fly the line lands in `fly logs`, and a
//! backtrace there helps nobody.

use std::{
    collections::BTreeMap,
    fmt::{self, Display},
    ops::RangeInclusive,
    str::FromStr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

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

impl Display for AppEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Development => "development",
            Self::Production => "production",
        })
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

impl Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        })
    }
}

/// One documented setting, as the README's table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingDoc {
    pub name: &'static str,
    /// The default as it is written in the environment, or how it is found.
    pub default: String,
    /// What it is for, with its bounds when it has some.
    pub meaning: String,
}

/// The variables a process reads, captured once: the process environment in
/// production, pairs in tests (so config tests never touch global state).
///
/// Clones share what was declared through any of them, so the settings a
/// whole application reads can be listed from the `Env` it was built from.
#[derive(Debug, Default, Clone)]
pub struct Env {
    vars: BTreeMap<String, String>,
    /// In the order first declared. Behind a lock so an `Env` can cross an
    /// `.await` in a `Send` future; it is written at start-up only.
    declared: Arc<Mutex<Vec<SettingDoc>>>,
}

impl Env {
    pub fn from_process() -> Self {
        Self::from_iter(std::env::vars())
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::from_iter(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    /// The same variables with one set (or replaced); for tests.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// The same variables with one unset; for tests.
    #[must_use]
    pub fn without(mut self, name: &str) -> Self {
        self.vars.remove(name);
        self
    }

    /// The raw value; an empty string counts as unset, as `fly secrets` and
    /// compose files make empty values easily.
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_owned())
    }

    /// Every variable that is set, for handing on to a child process.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Declares a setting: its name and what it is for. The typed methods of
    /// [`Var`] add its default and bounds, and read it.
    pub fn var(&self, name: &'static str, meaning: &'static str) -> Var<'_> {
        Var {
            env: self,
            name,
            meaning,
            default_doc: None,
        }
    }

    /// Every setting declared so far, in the order first declared.
    pub fn declared(&self) -> Vec<SettingDoc> {
        self.declarations().clone()
    }

    fn declarations(&self) -> std::sync::MutexGuard<'_, Vec<SettingDoc>> {
        self.declared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn declare(&self, doc: SettingDoc) {
        let mut declared = self.declarations();
        if !declared.iter().any(|d| d.name == doc.name) {
            declared.push(doc);
        }
    }
}

impl FromIterator<(String, String)> for Env {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(vars: I) -> Self {
        Self {
            vars: vars.into_iter().collect(),
            declared: Arc::default(),
        }
    }
}

/// A setting being declared and read: see [`Env::var`].
#[must_use = "a declared setting is only read by one of its typed methods"]
pub struct Var<'a> {
    env: &'a Env,
    name: &'static str,
    meaning: &'static str,
    default_doc: Option<&'static str>,
}

impl Var<'_> {
    /// How the default is described when its value alone would mislead
    /// (it depends on another setting, or is a development-only value).
    pub fn default_doc(mut self, text: &'static str) -> Self {
        self.default_doc = Some(text);
        self
    }

    fn declare(&self, default: String, bounds: Option<String>) {
        let meaning = match bounds {
            Some(bounds) => format!("{}, {bounds}", self.meaning),
            None => self.meaning.to_owned(),
        };
        let default = self.default_doc.map_or(default, str::to_owned);
        self.env.declare(SettingDoc {
            name: self.name,
            default,
            meaning,
        });
    }

    fn raw(&self) -> Option<String> {
        self.env.get(self.name)
    }

    fn parse<T>(&self, raw: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        raw.parse()
            .map_err(|e| ConfigError::new(self.name, format!("is `{raw}`: {e}")))
    }

    /// A whole number within bounds, so a typo like `PORT=80800` is caught here.
    pub fn number<T>(self, default: T, bounds: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display + Copy,
        T::Err: Display,
    {
        self.declare(
            format!("`{default}`"),
            Some(format!("{}–{}", bounds.start(), bounds.end())),
        );
        let value = match self.raw() {
            None => default,
            Some(raw) => self.parse(&raw)?,
        };
        if bounds.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(
                self.name,
                format!(
                    "is {value}: must be between {} and {}",
                    bounds.start(),
                    bounds.end()
                ),
            ))
        }
    }

    /// A TCP port; 0 asks the OS for a free one (tests rely on it).
    pub fn port(self, default: u16) -> Result<u16, ConfigError> {
        self.declare(format!("`{default}`"), None);
        match self.raw() {
            None => Ok(default),
            Some(raw) => self.parse(&raw),
        }
    }

    /// Seconds, written as a whole number.
    pub fn secs(self, default: u64, bounds: RangeInclusive<u64>) -> Result<Duration, ConfigError> {
        self.number(default, bounds).map(Duration::from_secs)
    }

    /// Milliseconds, written as a whole number.
    pub fn millis(
        self,
        default: u64,
        bounds: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(default, bounds).map(Duration::from_millis)
    }

    /// `true` or `false`.
    pub fn flag(self, default: bool) -> Result<bool, ConfigError> {
        self.declare(format!("`{default}`"), None);
        match self.raw() {
            None => Ok(default),
            Some(raw) => self.parse(&raw),
        }
    }

    /// One of a fixed set of words, parsed by `T`.
    pub fn choice<T>(self, default: T) -> Result<T, ConfigError>
    where
        T: FromStr<Err = String> + Display,
    {
        self.declare(format!("`{default}`"), None);
        match self.raw() {
            None => Ok(default),
            Some(raw) => T::from_str(&raw)
                .map_err(|problem| ConfigError::new(self.name, format!("is `{raw}`: {problem}"))),
        }
    }

    /// Free text.
    pub fn text(self, default: &str) -> String {
        self.declare(format!("`{default}`"), None);
        self.raw().unwrap_or_else(|| default.to_owned())
    }

    /// Text that is absent unless something sets it (Fly, mostly).
    pub fn optional(self) -> Option<String> {
        self.declare("unset".to_owned(), None);
        self.raw()
    }

    /// A URL with one of the given schemes. Development falls back to
    /// `dev_default`; production requires the variable. The value is never
    /// echoed back: URLs carry passwords.
    pub fn url(
        self,
        schemes: &[&str],
        dev_default: &str,
        app_env: AppEnv,
    ) -> Result<Secret, ConfigError> {
        self.declare(
            format!("`{dev_default}`"),
            Some(format!(
                "{} (required in production)",
                schemes_text(schemes)
            )),
        );
        let raw = match (self.raw(), app_env) {
            (Some(raw), _) => raw,
            (None, AppEnv::Development) => dev_default.to_owned(),
            (None, AppEnv::Production) => {
                return Err(ConfigError::new(
                    self.name,
                    format!("is not set: set it to a URL like {dev_default}"),
                ));
            }
        };
        self.checked_url(raw, schemes, dev_default).map(Secret::new)
    }

    /// A URL that is absent unless set.
    pub fn optional_url(self, schemes: &[&str]) -> Result<Option<Secret>, ConfigError> {
        self.declare("unset".to_owned(), Some(schemes_text(schemes)));
        self.raw()
            .map(|raw| self.checked_url(raw, schemes, "").map(Secret::new))
            .transpose()
    }

    fn checked_url(
        &self,
        raw: String,
        schemes: &[&str],
        example: &str,
    ) -> Result<String, ConfigError> {
        let parsed = url::Url::parse(&raw).map_err(|e| {
            let hint = if example.is_empty() {
                String::new()
            } else {
                format!(": expected e.g. {example}")
            };
            ConfigError::new(self.name, format!("is not a valid URL ({e}){hint}"))
        })?;
        if !schemes.contains(&parsed.scheme()) {
            return Err(ConfigError::new(
                self.name,
                format!(
                    "has scheme `{}`: expected one of {}",
                    parsed.scheme(),
                    schemes.join(", ")
                ),
            ));
        }
        Ok(raw)
    }

    /// A secret with a development-only fallback; production requires it.
    /// `check` refuses weak values, with a problem that never quotes them.
    pub fn secret(
        self,
        dev_default: &str,
        app_env: AppEnv,
        how_to_make_one: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Secret, ConfigError> {
        self.declare(
            "a development value".to_owned(),
            Some("required in production".to_owned()),
        );
        let value = match (self.raw(), app_env) {
            (Some(value), AppEnv::Production) if value == dev_default => {
                // It is published in the repository: anyone can sign with it.
                return Err(ConfigError::new(
                    self.name,
                    format!("is the development value, which is public: {how_to_make_one}"),
                ));
            }
            (Some(value), _) => value,
            (None, AppEnv::Development) => dev_default.to_owned(),
            (None, AppEnv::Production) => {
                return Err(ConfigError::new(
                    self.name,
                    format!("is not set: {how_to_make_one}"),
                ));
            }
        };
        check(&value).map_err(|problem| ConfigError::new(self.name, problem))?;
        Ok(Secret::new(value))
    }
}

fn schemes_text(schemes: &[&str]) -> String {
    let listed: Vec<String> = schemes.iter().map(|s| format!("`{s}://`")).collect();
    listed.join(" or ")
}

/// The settings every process reads.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    /// `RUST_LOG`: an `EnvFilter` directive.
    pub log_filter: String,
    pub database: DatabaseConfig,
    pub redis_url: Secret,
    pub nats_url: Secret,
    /// Prefix of every job queue in Redis: `<prefix>:<queue>`. Several copies
    /// of the stack (or tests) can share one Redis with different prefixes.
    pub queue_prefix: String,
    /// After SIGTERM, how long in-flight work gets to finish. Fly's
    /// `kill_timeout` must be longer.
    pub shutdown_timeout: Duration,
    /// Each dependency gets this long to answer a readiness check.
    pub readiness_timeout: Duration,
    /// A connection that has not sent a request's headers this long after it
    /// opened, or after its last response, is closed.
    pub idle_timeout: Duration,
    pub fly: FlyContext,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: Secret,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// A connection is closed and replaced this long after it opened.
    pub max_lifetime: Duration,
    /// A connection idle this long is closed.
    pub idle_timeout: Duration,
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
/// Quiet enough for production, loud enough to see requests.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,tower_http=info,apalis=info";
pub const DEFAULT_QUEUE_PREFIX: &str = "beacon";

impl PlatformConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let app_env = env
            .var("APP_ENV", "`development` or `production`")
            .choice(AppEnv::Development)?;
        let default_format = match app_env {
            AppEnv::Development => LogFormat::Pretty,
            AppEnv::Production => LogFormat::Json,
        };
        let postgres = ["postgres", "postgresql"];
        Ok(Self {
            app_env,
            log_format: env
                .var("LOG_FORMAT", "`pretty` or `json`")
                .default_doc("`pretty` (`json` in production)")
                .choice(default_format)?,
            log_filter: env.var("RUST_LOG", "log filter").text(DEFAULT_LOG_FILTER),
            database: DatabaseConfig {
                url: env
                    .var("DATABASE_URL", "Postgres")
                    .url(&postgres, DEV_DATABASE_URL, app_env)?,
                max_connections: env
                    .var("DATABASE_MAX_CONNECTIONS", "pool size")
                    .number(10, 1..=500)?,
                acquire_timeout: env
                    .var(
                        "DATABASE_ACQUIRE_TIMEOUT_SECS",
                        "how long a caller waits for a pooled connection",
                    )
                    .secs(5, 1..=120)?,
                // Fly's Managed Postgres asks for these: its proxy restarts
                // (deploys, maintenance) and closes connections older than
                // its shutdown grace; sqlx's defaults are 30 and 10 minutes.
                max_lifetime: env
                    .var(
                        "DATABASE_MAX_LIFETIME_SECS",
                        "a pooled connection is replaced after this long (Fly Managed Postgres: 600)",
                    )
                    .secs(600, 10..=86_400)?,
                idle_timeout: env
                    .var(
                        "DATABASE_IDLE_TIMEOUT_SECS",
                        "a pooled connection idle this long is closed (Fly Managed Postgres: 300)",
                    )
                    .secs(300, 10..=86_400)?,
            },
            redis_url: env
                .var("REDIS_URL", "Redis: job queues and rate limits")
                .url(&["redis", "rediss"], DEV_REDIS_URL, app_env)?,
            nats_url: env
                .var(
                    "NATS_URL",
                    "NATS: live events and worker wake-ups; `nats://<user>:<password>@host:4222` signs in, and a host behind which every node of a cluster answers is resolved again on each reconnect",
                )
                .url(&["nats", "tls"], DEV_NATS_URL, app_env)?,
            queue_prefix: queue_prefix(env)?,
            shutdown_timeout: env
                .var(
                    "SHUTDOWN_TIMEOUT_SECS",
                    "after SIGTERM/SIGINT, how long in-flight requests (api) or jobs (worker) get to finish",
                )
                .secs(20, 0..=600)?,
            readiness_timeout: env
                .var(
                    "READINESS_TIMEOUT_MS",
                    "how long each dependency gets to answer a readiness check",
                )
                .millis(1000, 50..=30_000)?,
            idle_timeout: env
                .var(
                    "HTTP_IDLE_TIMEOUT_SECS",
                    "a connection that sends no complete request headers this long after it opens, or after its last response, is closed",
                )
                .secs(20, 1..=3600)?,
            fly: FlyContext {
                app_name: env
                    .var("FLY_APP_NAME", "names the NATS connection")
                    .default_doc("set by Fly")
                    .optional(),
                region: env
                    .var("FLY_REGION", "added to every log line")
                    .default_doc("set by Fly")
                    .optional(),
                machine_id: env
                    .var(
                        "FLY_MACHINE_ID",
                        "added to every log line; names the NATS connection and the worker",
                    )
                    .default_doc("set by Fly")
                    .optional(),
                primary_region: env
                    .var("PRIMARY_REGION", "read at start-up, not used yet")
                    .default_doc("set by Fly")
                    .optional(),
            },
        })
    }

    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }

    /// `<app>-<machine>` on Fly, `fallback` elsewhere: how this process
    /// names itself to NATS and in worker names.
    pub fn process_name(&self, fallback: &str) -> String {
        match (&self.fly.app_name, &self.fly.machine_id) {
            (Some(app), Some(machine)) => format!("{app}-{machine}"),
            _ => fallback.to_owned(),
        }
    }
}

fn queue_prefix(env: &Env) -> Result<String, ConfigError> {
    let prefix = env
        .var(
            "QUEUE_PREFIX",
            "prefix of the job queues in Redis (`<prefix>:<queue>`); api and worker must agree",
        )
        .text(DEFAULT_QUEUE_PREFIX);
    let usable = !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_'));
    if usable {
        Ok(prefix)
    } else {
        Err(ConfigError::new(
            "QUEUE_PREFIX",
            format!("is `{prefix}`: use letters, digits, `:`, `-` and `_` only"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_defaults_need_no_variables() {
        let config = PlatformConfig::from_env(&Env::from_pairs(&[])).expect("defaults are valid");
        assert_eq!(config.app_env, AppEnv::Development);
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert_eq!(config.database.url.expose(), DEV_DATABASE_URL);
        assert_eq!(config.queue_prefix, DEFAULT_QUEUE_PREFIX);
    }

    #[test]
    fn production_requires_urls_and_names_the_variable() {
        let err = PlatformConfig::from_env(&Env::from_pairs(&[("APP_ENV", "production")]))
            .expect_err("production has no defaults");
        assert_eq!(err.var, "DATABASE_URL");
        assert!(
            err.to_string()
                .starts_with("configuration error: DATABASE_URL is not set")
        );
    }

    #[test]
    fn production_logs_json_by_default() {
        let config = PlatformConfig::from_env(&Env::from_pairs(&[
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
            ("QUEUE_PREFIX", "has space", "letters, digits"),
        ];
        for (var, value, expected) in cases {
            let pairs = [(*var, *value)];
            let err = PlatformConfig::from_env(&Env::from_pairs(&pairs))
                .expect_err("malformed value is refused");
            assert_eq!(err.var, *var);
            assert!(err.to_string().contains(expected), "{err} lacks {expected}");
        }
    }

    #[test]
    fn url_errors_never_echo_the_value() {
        let pairs = [("DATABASE_URL", "mysql://user:hunter2@db/beacon")];
        let err = PlatformConfig::from_env(&Env::from_pairs(&pairs)).expect_err("wrong scheme");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = PlatformConfig::from_env(&Env::from_pairs(&[])).expect("defaults");
        assert!(!format!("{config:?}").contains("127.0.0.1:5432"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs(&[("PORT", "  ")]);
        assert_eq!(env.var("PORT", "port").port(8080), Ok(8080));
    }

    #[test]
    fn every_setting_read_is_declared_with_its_default_and_bounds() {
        let env = Env::from_pairs(&[]);
        PlatformConfig::from_env(&env).expect("defaults");
        let declared = env.declared();
        let pool = declared
            .iter()
            .find(|d| d.name == "DATABASE_MAX_CONNECTIONS")
            .expect("declared");
        assert_eq!(pool.default, "`10`");
        assert_eq!(pool.meaning, "pool size, 1–500");
        let format = declared
            .iter()
            .find(|d| d.name == "LOG_FORMAT")
            .expect("declared");
        assert_eq!(format.default, "`pretty` (`json` in production)");
    }
}
