//! The life of a service process, the same for the api and the worker: read
//! the configuration, start logging, build, run until SIGTERM or SIGINT.

use std::{future::Future, process::ExitCode};

use crate::config::{ConfigError, EXIT_CONFIG, Env, PlatformConfig};

/// A long-running process.
pub trait Service: Sized {
    /// Reads its settings from `env` (a [`ConfigError`] exits 2 with one
    /// line), connects and binds. Logging is on by then.
    fn build(env: Env) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Serves until `shutdown` completes, then drains. `Err` exits 1.
    fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Runs `S` as the process's main: exit 0 after a graceful stop, 1 when it
/// could not start or failed, 2 for a configuration mistake.
pub async fn run<S: Service>(env: Env) -> ExitCode {
    let platform = match PlatformConfig::from_env(&env) {
        Ok(config) => config,
        Err(e) => return config_error(&e),
    };
    // Held until `main` returns: dropping it writes out every queued line.
    let _log = crate::telemetry::init(&platform);
    let service = match S::build(env).await {
        Ok(service) => service,
        Err(e) => {
            if let Some(config) = e.downcast_ref::<ConfigError>() {
                return config_error(config);
            }
            tracing::error!(error = %format!("{e:#}"), "cannot start");
            return ExitCode::FAILURE;
        }
    };
    match service.run_until_stopped(crate::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "stopped with an error");
            ExitCode::FAILURE
        }
    }
}

fn config_error(error: &ConfigError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(u8::try_from(EXIT_CONFIG).unwrap_or(2))
}
