//! Running external commands the way every `cargo xtask` task shows them
//! ([`crate::show`]): every command printed before it runs. Under
//! `--dry-run` a command is only printed; read-only probes (is Postgres up?
//! which version is installed?) are plain `Command`s and still run.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

use crate::show;

/// `cargo …` arguments that check the committed `.sqlx` cache against a
/// migrated database; the check's own build turns the offline mode off.
pub const SQLX_PREPARE_CHECK: [&str; 6] = [
    "sqlx",
    "prepare",
    "--workspace",
    "--check",
    "--",
    "--all-targets",
];

/// Builds what the local stacks run: the api and the worker (offline, from
/// the committed `.sqlx` cache) and the dashboard (frontend/dist).
pub fn build_stack(runner: &Runner, root: &Path) -> anyhow::Result<()> {
    show::step("Build");
    runner.run(
        cargo()
            .args(["build", "-p", "api", "-p", "worker"])
            .env("SQLX_OFFLINE", "true")
            .current_dir(root),
    )?;
    runner.run(command("npm", ["--prefix", "frontend", "run", "build"]).current_dir(root))
}

/// Runs commands, or under `--dry-run` only shows them.
#[derive(Debug, Clone, Copy)]
pub struct Runner {
    pub dry_run: bool,
}

impl Runner {
    /// A task's runner, from the repository's root: every path in the
    /// commands it shows is the repository's, as a reader types it.
    pub fn in_repository(root: &Path, dry_run: bool) -> anyhow::Result<Self> {
        std::env::set_current_dir(root).with_context(|| format!("entering {}", root.display()))?;
        Ok(Self { dry_run })
    }

    /// Shows `command`, then runs it with its output passing through;
    /// fails when it exits non-zero, naming it.
    pub fn run(&self, command: &mut Command) -> anyhow::Result<()> {
        let line = show::shown(command);
        eprintln!("{line}");
        if self.dry_run {
            return Ok(());
        }
        crate::processes::check_interrupted()?;
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {}", program(command)))?;
        let status = crate::processes::wait_foreground(child)?.status;
        if !status.success() {
            bail!("{} failed ({status})", program(command));
        }
        Ok(())
    }

    /// Shows `command`, then runs it and returns what it printed on stdout;
    /// `None` under `--dry-run`.
    pub fn output(&self, command: &mut Command) -> anyhow::Result<Option<String>> {
        let line = show::shown(command);
        eprintln!("{line}");
        if self.dry_run {
            return Ok(None);
        }
        crate::processes::check_interrupted()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("could not start {}", program(command)))?;
        let output = crate::processes::wait_foreground(child)?;
        if !output.status.success() {
            bail!("{} failed ({})", program(command), output.status);
        }
        Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()))
    }
}

/// `Command::new(program).args(args)`, in one expression.
pub fn command<I, S>(program: impl AsRef<OsStr>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    command
}

fn program(command: &Command) -> String {
    Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned()
}

/// Where a program is on PATH, or in the sbin folders Debian installs
/// servers to (nginx, nats-server), which a non-root PATH may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// [`find_program`], or an error that says how to get it.
pub fn require_program(name: &str, how: &str) -> anyhow::Result<PathBuf> {
    find_program(name).with_context(|| format!("{name} is not installed ({how})"))
}

/// The workspace's target folder: `CARGO_TARGET_DIR` when set, as cargo
/// reads it, relative to `root` when it is relative.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The cargo that runs this task, so a toolchain override reaches the
/// builds it starts, without the variables cargo sets for the package it
/// runs (`cargo xtask` is `cargo run`, and a test runner sets them too):
/// build scripts that watch them (ring's, through cc) would see them change
/// between a task's build and the user's own `cargo build`, and each would
/// rebuild half the dependency tree of the other.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    without_package_variables(&mut command);
    command
}

/// `command` without the variables cargo set for the package it runs, for
/// anything that starts cargo builds of its own (see [`cargo`]).
pub fn without_package_variables(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_") || PACKAGE_VARIABLES.contains(&&*name) {
            command.env_remove(&*name);
        }
    }
    command
}

/// What cargo sets for the package it runs or tests, besides CARGO_PKG_*.
const PACKAGE_VARIABLES: [&str; 8] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_do_not_inherit_the_variables_of_the_package_cargo_runs() {
        // The test runner sets them for this test, as cargo run does for a task.
        for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"] {
            assert!(std::env::var_os(name).is_some(), "{name} is set here");
            assert!(
                cargo()
                    .get_envs()
                    .any(|(n, value)| n == name && value.is_none()),
                "{name} is removed"
            );
        }
        assert!(
            !cargo().get_envs().any(|(n, _)| n == "PATH"),
            "the rest is inherited"
        );
    }

    #[test]
    fn a_dry_run_runs_nothing() {
        let runner = Runner { dry_run: true };
        runner
            .run(&mut command("false", [] as [&str; 0]))
            .expect("not run");
        assert_eq!(
            runner
                .output(&mut command("false", [] as [&str; 0]))
                .expect("not run"),
            None
        );
    }

    #[test]
    fn a_failing_command_is_an_error_that_names_it() {
        let runner = Runner { dry_run: false };
        let error = runner
            .run(&mut command("false", [] as [&str; 0]))
            .expect_err("false fails");
        assert!(error.to_string().starts_with("false failed"), "{error}");
    }
}
