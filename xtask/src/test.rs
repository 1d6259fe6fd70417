//! `cargo xtask test`: every check Beacon has, in the order that fails
//! fastest. `scripts/test.sh` installs what a fresh machine lacks, then
//! runs this; CI runs exactly that (through .ci/run), so a green local run
//! means a green CI run.
//!
//! This process adopts every orphan of the run (it is their subreaper), and
//! after each step looks for processes of its own still running: a step
//! that leaves a server behind fails, whether it passed or not.

use std::{path::Path, process::Command, time::Instant};

use anyhow::Context;

use crate::{
    cmd::{self, Runner, command},
    processes, show,
};

/// The database the .sqlx cache is checked against; tests make their own.
const CHECK_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/beacon";

/// Run every check: formatting, the linters of the scripts and the
/// configuration (cargo xtask lint), the .sqlx cache against a migrated
/// database, clippy, cargo deny, the frontend's tests and size budget, the
/// browser end to end (cargo xtask e2e), Fly's private network (cargo xtask
/// fly-net), the compose stack (cargo xtask compose-smoke), the benchmark
/// harness in smoke mode, the Rust tests, and, while the example is in, the
/// skeleton check (cargo xtask skeleton-check). Set TEST_LOG=1 to see the application's logs.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Skip formatting, the linters, clippy and cargo deny.
    #[arg(long)]
    pub quick: bool,
    /// Print every command instead of running it (read-only probes run).
    #[arg(long)]
    pub dry_run: bool,
}

/// One check: a title and what runs.
struct Step {
    title: &'static str,
    commands: Vec<Command>,
}

pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let runner = Runner {
        dry_run: options.dry_run,
    };
    processes::adopt_orphans()?;
    for step in steps(root, options)? {
        show::step(step.title);
        let step_started = Instant::now();
        let mut outcome = Ok(());
        for mut command in step.commands {
            outcome = runner.run(command.current_dir(root));
            if outcome.is_err() {
                break;
            }
        }
        let left = processes::leftovers();
        if !left.is_empty() {
            processes::stop_leftovers();
            let names: Vec<String> = left.iter().map(ToString::to_string).collect();
            outcome = outcome.and(Err(anyhow::anyhow!(
                "left running after the step: {}",
                names.join(", ")
            )));
        }
        outcome.with_context(|| step.title)?;
        if !options.dry_run {
            show::progress(&format!(
                "({} in {}s; nothing of it left running)",
                step.title,
                step_started.elapsed().as_secs()
            ));
        }
    }
    let elapsed = started.elapsed().as_secs();
    if options.dry_run {
        println!("dry run: nothing was checked");
    } else {
        println!("all checks passed in {}m{:02}s", elapsed / 60, elapsed % 60);
    }
    Ok(())
}

fn steps(root: &Path, options: &Options) -> anyhow::Result<Vec<Step>> {
    let xtask = |args: &[&str]| -> anyhow::Result<Command> {
        let mut command = Command::new(std::env::current_exe().context("this program's path")?);
        command.args(args);
        if options.dry_run {
            command.arg("--dry-run");
        }
        Ok(command)
    };
    let cargo = |args: &[&str]| {
        let mut command = cmd::cargo();
        command.args(args);
        command
    };
    let check_database = |mut command: Command| {
        command.env("DATABASE_URL", CHECK_DATABASE_URL);
        command
    };
    let mut steps = Vec::new();
    if !options.quick {
        steps.push(Step {
            title: "Formatting",
            commands: vec![cargo(&["fmt", "--all", "--", "--check"])],
        });
        steps.push(Step {
            title: "Linters: the shell doors, Dockerfiles, workflows, compose, TOML",
            commands: vec![xtask(&["lint"])?],
        });
    }
    steps.push(Step {
        title: "Database and the .sqlx offline cache",
        commands: vec![
            check_database(command("sqlx", ["database", "create"])),
            check_database(cargo(&[
                "run",
                "--quiet",
                "--package",
                "api",
                "--",
                "migrate",
                "run",
            ])),
            check_database(cargo(&cmd::SQLX_PREPARE_CHECK)),
        ],
    });
    if !options.quick {
        steps.push(Step {
            title: "Clippy",
            commands: vec![cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])],
        });
        // The advisories need the RustSec database from GitHub, which this
        // machine may not reach: the CI workflow checks them.
        steps.push(Step {
            title: "Supply chain: cargo deny (licences, bans, sources; the advisories need the network, and .github/workflows/ci.yml checks them)",
            commands: vec![cargo(&[
                "deny",
                "--offline",
                "--locked",
                "check",
                "--hide-inclusion-graph",
                "licenses",
                "bans",
                "sources",
            ])],
        });
    }
    steps.push(Step {
        title: "Frontend: unit tests and size budget",
        commands: vec![
            command("npm", ["--prefix", "frontend", "test"]),
            command("npm", ["--prefix", "frontend", "run", "size"]),
        ],
    });
    steps.push(Step {
        title: "End-to-end: nginx, two apis, a worker and Chromium",
        commands: vec![xtask(&["e2e"])?],
    });
    steps.push(Step {
        title: "Fly's private network: a namespace per machine, IPv6 only, DNS at [fdaa::3], Flycast",
        commands: vec![xtask(&["fly-net"])?],
    });
    steps.push(Step {
        title: "Compose: the images and the stack through the web port (skipped where no engine builds)",
        commands: vec![xtask(&["compose-smoke"])?],
    });
    steps.push(Step {
        title: "Benchmark harness, smoke mode (numbers meaningless; proves it runs)",
        commands: vec![xtask(&["bench", "--smoke", "--debug"])?],
    });
    let nextest = cmd::cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    steps.push(Step {
        title: "Tests: the Rust tests against the real Postgres, Redis and NATS",
        commands: vec![if nextest {
            cargo(&["nextest", "run", "--workspace", "--no-fail-fast"])
        } else {
            cargo(&["test", "--workspace", "--no-fail-fast"])
        }],
    });
    // Once the example is stripped, there is nothing left to strip.
    if crate::make_it_yours::has_example(root)? {
        steps.push(Step {
            title: "Make it yours: a renamed copy without the example passes its own scripts/test.sh",
            commands: vec![xtask(&["skeleton-check"])?],
        });
    }
    Ok(steps)
}
