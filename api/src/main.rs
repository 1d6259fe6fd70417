use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    api::cli::run(api::cli::Cli::parse()).await
}
