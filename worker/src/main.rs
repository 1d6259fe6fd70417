use std::process::ExitCode;

use clap::Parser;
use platform::config::Env;

/// Beacon's worker: runs every registered job and periodic task until
/// SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(
    name = "worker",
    version,
    after_help = "Configured by environment variables: see the README's configuration table."
)]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    Cli::parse();
    platform::service::run::<worker::server::Worker>(Env::from_process()).await
}
