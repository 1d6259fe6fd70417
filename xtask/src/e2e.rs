//! `cargo xtask e2e`: the built dashboard behind nginx (the config template
//! Fly runs), two api processes (two "machines"), a worker, and Debian's
//! Chromium driving the dashboard through `frontend/e2e/` with Node's test
//! runner: the skeleton's pages (signing up, the live account page, signing
//! out in one tab ending the other's session, each tab on its own api) and
//! each area's own browser tests.
//!
//! It ends by looking for what it started: an nginx, api or worker of this
//! run still running after the run, passed or failed, fails it.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use platform::testing::{TestDatabase, block_on, free_port};

use crate::{
    cmd::{self, Runner, command},
    nginx,
    processes::{self, Processes},
    show,
};

/// Start-up of a debug api, migrations done, is well under a second; the
/// margin is for a loaded CI machine.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Run the browser tests against the real stack on 127.0.0.1: a fresh
/// database migrated with `api migrate run`, two apis and a worker on a
/// queue of their own, an nginx rendered from docker/nginx in front of
/// each api, and `node --test frontend/e2e/` with Chromium. Screenshots and
/// logs go to .artifacts/e2e/. Everything it started is stopped and the
/// database dropped when it ends, passed, failed or interrupted.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Print what would run and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let runner = Runner {
        dry_run: options.dry_run,
    };
    let artifacts = root.join(".artifacts/e2e");
    let target = cmd::target_dir(root);
    let chromium = Path::new("/usr/bin/chromium");
    if !options.dry_run {
        cmd::require_program("node", "scripts/test.sh installs it")?;
        nginx::binary()?;
        if !chromium.is_file() {
            bail!("/usr/bin/chromium is not installed (scripts/test.sh installs it)");
        }
    }
    // A server whose parent exits early becomes this process's child, where
    // the check at the end finds it.
    processes::adopt_orphans()?;

    cmd::build_stack(&runner, root)?;

    show::step("Start");
    if !options.dry_run {
        if artifacts.exists() {
            std::fs::remove_dir_all(&artifacts)?;
        }
        std::fs::create_dir_all(&artifacts)?;
    }
    let run_id = format!("{}{}", std::process::id(), rand::random::<u16>());
    let queue_prefix = format!("beacon:e2e:{run_id}");
    let outcome = (|| -> anyhow::Result<()> {
        let database = (!options.dry_run).then(|| block_on(TestDatabase::empty()));
        let database_url = database
            .as_ref()
            .map_or("postgres://postgres@127.0.0.1:5432/<fresh>".into(), |d| {
                d.url.clone()
            });
        let api = target.join("debug/api");
        let worker = target.join("debug/worker");
        let stack_env = |mut command: std::process::Command| {
            command
                .env("DATABASE_URL", &database_url)
                .env("QUEUE_PREFIX", &queue_prefix)
                // The test's target listens on 127.0.0.1.
                .env("ALLOW_PRIVATE_TARGETS", "true")
                .env("POLL_INTERVAL_MS", "100")
                .env("SCHEDULER_TICK_MS", "500")
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
                )
                .current_dir(root);
            command
        };
        runner.run(&mut stack_env(command(&api, ["migrate", "run"])))?;

        let mut servers = Processes::new(&artifacts, options.dry_run)?;
        let mut webs = Vec::new();
        for machine in ["a", "b"] {
            let (port, metrics) = (free_port(), free_port());
            let mut serve = stack_env(command(&api, ["serve"]));
            serve
                .env("PORT", port.to_string())
                .env("METRICS_PORT", metrics.to_string());
            servers.start(&format!("api-{machine}"), serve)?;
            let web = free_port();
            let dir = artifacts.join(format!("nginx-{machine}"));
            if !options.dry_run {
                nginx::render(
                    root,
                    &dir,
                    &nginx::local_site(root, web, &format!("127.0.0.1:{port}")),
                )?;
            }
            servers.start(&format!("nginx-{machine}"), nginx::command(&dir)?)?;
            webs.push((format!("nginx-{machine}"), web));
        }
        let mut worker = stack_env(std::process::Command::new(&worker));
        worker.env("WORKER_PORT", free_port().to_string());
        servers.start("worker", worker)?;
        for (name, port) in &webs {
            servers.wait_for_200(
                name,
                &format!("http://127.0.0.1:{port}/api/ready"),
                READY_WITHIN,
            )?;
        }

        show::step("End-to-end tests");
        // Listed, not the folder: from Node 21 on, a folder is not searched.
        let mut tests = test_files(&root.join("frontend/e2e"))?;
        tests.sort();
        let mut node = command("node", ["--test", "--test-reporter=spec"]);
        node.args(&tests)
            .env("WEB_A", format!("http://127.0.0.1:{}", webs[0].1))
            .env("WEB_B", format!("http://127.0.0.1:{}", webs[1].1))
            .env("ARTIFACTS_DIR", &artifacts)
            .env("CHROMIUM", chromium)
            .current_dir(root);
        let tested = runner.run(&mut node);
        show::step("Stop");
        servers.stop_all();
        drop(database);
        tested
    })();
    if options.dry_run {
        return outcome;
    }
    let left = left_running(&artifacts, &queue_prefix);
    outcome?;
    if !left.is_empty() {
        bail!("left running after the run: {}", left.join(", "));
    }
    show::progress("nothing of this run is left running: no nginx, api or worker");
    Ok(())
}

/// The end-to-end processes running now, as `pid (command line)`: anything
/// run from `artifacts` (nginx), with `environment` in its environment (the
/// apis and the worker carry their run's `QUEUE_PREFIX=…`), and Chromium
/// with a playwright profile. The cleanup test looks with it too.
pub fn running(artifacts: &Path, environment: &str) -> Vec<String> {
    let folder = artifacts.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let read = |file: &str| {
            std::fs::read(entry.path().join(file))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default()
        };
        let (command_line, environ) = (read("cmdline"), read("environ"));
        if command_line.contains(&folder)
            || environ.contains(environment)
            || command_line.contains("playwright_chromiumdev_profile")
        {
            found.push(format!("{pid} ({})", command_line.trim()));
        }
    }
    found
}

/// This run's processes still running ([`running`]), and whatever was
/// orphaned to this process. Each is stopped as it is reported.
fn left_running(artifacts: &Path, queue_prefix: &str) -> Vec<String> {
    let mut found = running(artifacts, &format!("QUEUE_PREFIX={queue_prefix}"));
    found.extend(processes::leftovers().iter().map(ToString::to_string));
    processes::stop_leftovers();
    found
}

fn test_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(test_files(&path)?);
        } else if path.to_string_lossy().ends_with(".test.mjs") {
            files.push(path);
        }
    }
    Ok(files)
}
