//! `cargo xtask`: Beacon's repository tooling, in Rust like the rest. Every
//! task is a module with an `Options` (its flags, and its `--help`) and a
//! `run(root, &options)`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{bench, compose_smoke, dev, e2e, fly_net, lint, make_it_yours, skeleton_check, test};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Beacon's repository tooling",
    after_help = "Yours to keep: dev, test, lint, e2e, fly-net, compose-smoke, bench \
        (scripts/dev.sh and scripts/test.sh run dev and test). The template's own: \
        make-it-yours, skeleton-check and example-files (the last two have nothing to do once \
        the example is removed)."
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

// Each task's --help is the doc comment of its Options.
#[derive(Debug, Subcommand)]
enum Task {
    Dev(dev::Options),
    Test(test::Options),
    Lint(lint::Options),
    E2e(e2e::Options),
    FlyNet(fly_net::Options),
    ComposeSmoke(compose_smoke::Options),
    Bench(bench::Options),
    MakeItYours(make_it_yours::Options),
    SkeletonCheck(skeleton_check::Options),
    ExampleFiles(make_it_yours::ExampleFiles),
}

fn main() -> ExitCode {
    let root = xtask::repo_root();
    // Tasks that start servers stop them in order on Ctrl-C and SIGTERM
    // (xtask::processes); fly-net handles its own signals.
    let outcome = match Cli::parse().task {
        Task::Dev(options) => guarded(|| dev::run(&root, &options)),
        Task::Test(options) => guarded(|| test::run(&root, &options)),
        Task::Lint(options) => lint::run(&root, &options),
        Task::E2e(options) => guarded(|| e2e::run(&root, &options)),
        Task::FlyNet(options) => fly_net::run(&root, &options),
        Task::ComposeSmoke(options) => guarded(|| compose_smoke::run(&root, &options)),
        Task::Bench(options) => guarded(|| bench::run(&root, &options)),
        Task::MakeItYours(options) => make_it_yours::run(&root, &options),
        Task::SkeletonCheck(options) => guarded(|| skeleton_check::run(&root, &options)),
        Task::ExampleFiles(options) => make_it_yours::list_example_files(&root, &options),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn guarded(task: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    xtask::processes::guard_signals().and_then(|()| task())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every task's flags, their names and groups, as clap checks them when
    /// a task runs: a clash would otherwise show only then, as a panic.
    #[test]
    fn every_tasks_arguments_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
