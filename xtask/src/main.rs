//! `cargo xtask`: Beacon's repository tooling, in Rust like the rest.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Beacon's repository tooling")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Print the workspace's crates and what each is for.
    Layout,
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Layout => {
            println!("platform  accounts  uptime (example)  api  worker  xtask");
            ExitCode::SUCCESS
        }
    }
}
