use std::process::ExitCode;

use common::config::Env;
use worker::{config::WorkerConfig, startup::Worker};

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "--help" || a == "-h")
    {
        println!(
            "worker: runs Beacon's checks until SIGINT/SIGTERM. Configured by environment variables (see README)."
        );
        return ExitCode::SUCCESS;
    }
    let config = WorkerConfig::from_env(&Env::from_process()).unwrap_or_else(|e| e.exit());
    let _log = common::telemetry::init(config.common.log_format, &config.common.fly);
    let worker = match Worker::build(config).await {
        Ok(worker) => worker,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot start");
            return ExitCode::FAILURE;
        }
    };
    match worker.run_until_stopped(common::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
