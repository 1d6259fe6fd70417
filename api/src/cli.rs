//! The `api` command line: `serve` (the default) and `migrate`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::config::{AppEnv, ConfigError, Env};

use crate::{config::ApiConfig, migrate, startup::Application};

#[derive(Debug, Parser)]
#[command(name = "api", version, about = "Beacon's HTTP API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API on [::]:$PORT and metrics on [::]:$METRICS_PORT (the default).
    Serve,
    /// Manage the database schema with the migrations built into this binary.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration. Idempotent and safe to run concurrently.
    Run,
    /// List every migration as applied, pending, changed, failed or unknown.
    Status {
        /// Exit with 1 when anything is pending, changed or failed.
        #[arg(long)]
        check: bool,
    },
    /// Undo the last applied migration, or every migration above --to.
    Revert {
        /// Revert down to this version (0 reverts everything).
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate { action } => migrate_command(action).await,
    }
}

async fn serve() -> ExitCode {
    let config = ApiConfig::from_env(&Env::from_process()).unwrap_or_else(|e| e.exit());
    let _log = common::telemetry::init(config.common.log_format, &config.common.fly);
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot start");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped(common::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "stopped with an error");
            ExitCode::FAILURE
        }
    }
}

/// Migrations need only the database: `MIGRATION_DATABASE_URL` (a direct
/// connection, when `DATABASE_URL` goes through PgBouncer) or `DATABASE_URL`.
fn migration_url(env: &Env<'_>) -> Result<common::config::Secret, ConfigError> {
    let app_env = env.or("APP_ENV", AppEnv::Development)?;
    let schemes = ["postgres", "postgresql"];
    if env.get("MIGRATION_DATABASE_URL").is_some() {
        return env.url("MIGRATION_DATABASE_URL", &schemes, None, app_env);
    }
    env.url(
        "DATABASE_URL",
        &schemes,
        Some(common::config::DEV_DATABASE_URL),
        app_env,
    )
}

async fn migrate_command(action: MigrateAction) -> ExitCode {
    let url = migration_url(&Env::from_process()).unwrap_or_else(|e| e.exit());
    let mut out = std::io::stdout();
    let result = async {
        let mut conn = migrate::connect(&url).await?;
        match action {
            MigrateAction::Run => migrate::run(&mut conn, &mut out).await.map(|()| true),
            MigrateAction::Status { check } => {
                migrate::print_status(&mut conn, check, &mut out).await
            }
            MigrateAction::Revert { to } => migrate::revert(&mut conn, to, &mut out)
                .await
                .map(|()| true),
        }
    }
    .await;
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
