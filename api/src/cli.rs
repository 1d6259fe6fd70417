//! The `api` command line: `serve` (the default) and `migrate`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use platform::{config::Env, migrate::MigrateAction};

use crate::{routes::migrator, server::ApiServer};

#[derive(Debug, Parser)]
#[command(
    name = "api",
    version,
    about = "Beacon's HTTP API",
    after_help = "Configured by environment variables: see the README's configuration table."
)]
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

pub async fn run(cli: Cli) -> ExitCode {
    let env = Env::from_process();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => platform::service::run::<ApiServer>(env).await,
        Command::Migrate { action } => platform::migrate::command(action, &migrator(), &env).await,
    }
}
