//! `cargo xtask`: Beacon's repository tooling, in Rust like the rest.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use xtask::{dev, e2e, fly_net, make_it_yours, skeleton_check, test};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Beacon's repository tooling"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Bring the local stack up (scripts/dev.sh runs this after its installs).
    Dev(dev::Options),
    /// Run every check (scripts/test.sh runs this after its installs).
    Test(test::Options),
    /// The browser end to end: nginx, two apis, a worker and Chromium.
    E2e(e2e::Options),
    // --help: the doc comment of its Options.
    Lint(xtask::lint::Options),
    // --help: the doc comment of its Options.
    ComposeSmoke(xtask::compose_smoke::Options),
    // --help: the doc comment of its Options.
    Bench(xtask::bench::Options),
    /// Make the template your project: rename it, and remove the example.
    ///
    /// Renames the project's name everywhere it stands (crates' docs, the
    /// database, queues, NATS subjects, metrics, the session cookie, the
    /// image user, the Fly apps, the docs). With --strip-example, removes
    /// the example product (the uptime monitor: its crate, migrations,
    /// frontend views and tests, and the lines marked `// example` or
    /// `# example` elsewhere), leaving accounts, health and a worker with one
    /// job. Changes the checkout in place: commit first.
    MakeItYours {
        /// The new name: lowercase letters, digits and dashes (acme-status).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Remove the example product.
        #[arg(long)]
        strip_example: bool,
        /// The checkout to change [default: this one].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print what would change and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Prove make-it-yours leaves a working project: copy this checkout,
    /// rename it and strip the example there, then run the copy's clippy,
    /// .sqlx check, Rust tests and frontend tests and build.
    SkeletonCheck {
        /// Leave the copy in place afterwards, to look at.
        #[arg(long)]
        keep: bool,
        /// Print what would run and run nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run Beacon on a Fly-like private network built on this machine (root):
    /// a namespace per machine with only an fdaa: address, DNS at [fdaa::3],
    /// a Flycast stand-in, the environment of fly/*.toml and the deploy
    /// script; then sign up and watch a check through nginx, replace an api
    /// machine, move the Flycast address, and see private targets refused.
    /// Removes everything it made, also when a step fails or it is stopped.
    FlyNet {
        /// The api binary [default: target/debug/api].
        #[arg(long, value_name = "PATH")]
        api_bin: Option<PathBuf>,
        /// The worker binary [default: target/debug/worker].
        #[arg(long, value_name = "PATH")]
        worker_bin: Option<PathBuf>,
        /// Print the steps and run nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the files outside the example's folders that carry its marks:
    /// what removing it by hand touches.
    ExampleFiles {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Prints a task's error and turns its outcome into the exit status.
fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// For the tasks that start servers with `xtask::processes`: Ctrl-C and
/// SIGTERM stop them in order (fly-net handles its own signals).
fn guarded(task: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    report(xtask::processes::guard_signals().and_then(|()| task()))
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Dev(options) => guarded(|| dev::run(&repository_root(), &options)),
        Task::Test(options) => guarded(|| test::run(&repository_root(), &options)),
        Task::E2e(options) => guarded(|| e2e::run(&repository_root(), &options)),
        Task::Lint(options) => report(xtask::lint::run(&repository_root(), &options)),
        Task::ComposeSmoke(options) => {
            guarded(|| xtask::compose_smoke::run(&repository_root(), &options))
        }
        Task::Bench(options) => guarded(|| xtask::bench::run(&repository_root(), &options)),
        Task::MakeItYours {
            name,
            strip_example,
            dir,
            dry_run,
        } => {
            if name.is_none() && !strip_example {
                eprintln!("error: nothing to do: give --name NAME, --strip-example, or both");
                return ExitCode::from(2);
            }
            let to = match name.as_deref().map(make_it_yours::Name::parse).transpose() {
                Ok(to) => to,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let plan = make_it_yours::Plan {
                root: dir.unwrap_or_else(repository_root),
                to,
                strip_example,
                dry_run,
            };
            match make_it_yours::run(&plan) {
                Ok(changes) => {
                    for change in &changes {
                        println!("{}{change}", if dry_run { "would " } else { "" });
                    }
                    if !dry_run {
                        println!(
                            "done: {} change(s). Next: scripts/test.sh, then commit.",
                            changes.len()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Task::SkeletonCheck { keep, dry_run } => {
            let options = skeleton_check::Options {
                root: repository_root(),
                keep,
                dry_run,
            };
            match skeleton_check::run(&options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Task::FlyNet {
            api_bin,
            worker_bin,
            dry_run,
        } => {
            let root = repository_root();
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            let options = fly_net::Options {
                api_bin: api_bin.unwrap_or_else(|| target.join("debug/api")),
                worker_bin: worker_bin.unwrap_or_else(|| target.join("debug/worker")),
                root,
                dry_run,
            };
            match fly_net::run(&options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Task::ExampleFiles { dir } => {
            match make_it_yours::marked_files(&dir.unwrap_or_else(repository_root)) {
                Ok(files) => {
                    for file in files {
                        println!("{file}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
