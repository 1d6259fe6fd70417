//! `cargo xtask skeleton-check`: proves `make-it-yours` leaves a working
//! project. It copies this checkout (its tracked and untracked, not ignored
//! files, as they are now) to a scratch folder, renames the copy and strips
//! the example there, then checks the copy as its own CI would: clippy, the
//! `.sqlx` cache against a database its own `api migrate run` made, every
//! Rust test (but the end-to-end cleanup test, which this checkout runs),
//! and the frontend's unit tests and build.
//!
//! The copy builds into this checkout's `target/` so it reuses every compiled
//! dependency; only the workspace's own crates compile again.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, bail, ensure};

use crate::make_it_yours::{self, Name, Plan};

/// The name the copy is given: two words, so both spellings are exercised.
const NAME: &str = "acme-status";

/// Prove make-it-yours leaves a working project
///
/// Copies this checkout, renames the copy and strips the example there, then
/// runs the copy's clippy, .sqlx check, Rust tests and frontend tests and
/// build.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Leave the copy in place afterwards, to look at.
    #[arg(long)]
    pub keep: bool,
    /// Print what would run and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let scratch = std::env::temp_dir().join(format!("skeleton-check-{}", std::process::id()));
    let target = crate::cmd::target_dir(root);
    let database = format!(
        "postgres://postgres@127.0.0.1:5432/acme_status_skeleton_{}",
        std::process::id()
    );
    let runner = Runner {
        dry_run: options.dry_run,
    };

    progress("copy this checkout", &scratch);
    if !options.dry_run {
        copy_checkout(root, &scratch)?;
    }
    let result = (|| -> anyhow::Result<()> {
        progress("make it yours, the example stripped", &scratch);
        let plan = Plan {
            root: scratch.clone(),
            to: Some(Name::parse(NAME)?),
            strip_example: true,
            dry_run: options.dry_run,
        };
        if !options.dry_run {
            make_it_yours::apply(&plan)?;
            let left = leftovers(&scratch)?;
            ensure!(
                left.is_empty(),
                "the old name is still in: {}",
                left.join(", ")
            );
        }

        let in_copy = |mut command: Command, args: &[&str]| {
            command
                .args(args)
                .current_dir(&scratch)
                .env("CARGO_TARGET_DIR", &target)
                .env("SQLX_OFFLINE", "true");
            command
        };
        runner.run(
            "clippy",
            in_copy(
                crate::cmd::cargo(),
                &[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
            ),
        )?;
        runner.run(
            "a database for the .sqlx check",
            with_db(
                in_copy(Command::new("sqlx"), &["database", "create"]),
                &database,
            ),
        )?;
        let checked = (|| {
            runner.run(
                "its own migrations (api migrate run)",
                with_db(
                    in_copy(
                        crate::cmd::cargo(),
                        &["run", "--quiet", "--package", "api", "--", "migrate", "run"],
                    ),
                    &database,
                ),
            )?;
            let mut prepare = in_copy(crate::cmd::cargo(), &crate::cmd::SQLX_PREPARE_CHECK);
            prepare.env_remove("SQLX_OFFLINE");
            runner.run("the .sqlx cache", with_db(prepare, &database))
        })();
        runner.run(
            "drop that database",
            with_db(
                in_copy(Command::new("sqlx"), &["database", "drop", "-y", "-f"]),
                &database,
            ),
        )?;
        checked?;
        // Every test but xtask's cleanup test, which runs a whole end-to-end
        // stack: cargo xtask test runs that harness in this checkout, whose
        // xtask/src/e2e.rs the copy shares unchanged, and here it would first
        // rebuild the stack the .sqlx check just invalidated (about a minute).
        runner.run(
            "the Rust tests",
            in_copy(
                crate::cmd::cargo(),
                &[
                    "nextest",
                    "run",
                    "--workspace",
                    "--no-fail-fast",
                    "-E",
                    "not (package(xtask) & binary(=cleanup))",
                ],
            ),
        )?;

        let modules = root.join("frontend/node_modules");
        if !options.dry_run {
            ensure!(
                modules.is_dir(),
                "{} is missing: run npm ci in frontend first",
                modules.display()
            );
            std::os::unix::fs::symlink(&modules, scratch.join("frontend/node_modules"))
                .context("linking the frontend's node_modules")?;
        }
        runner.run(
            "the frontend's unit tests",
            in_copy(Command::new("npm"), &["--prefix", "frontend", "test"]),
        )?;
        runner.run(
            "the frontend's build",
            in_copy(
                Command::new("npm"),
                &["--prefix", "frontend", "run", "build"],
            ),
        )?;
        Ok(())
    })();

    if !options.dry_run {
        forget_workspace_builds(&target, root)?;
    }
    if options.keep || options.dry_run {
        println!("the copy is in {}", scratch.display());
    } else {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result?;
    if options.dry_run {
        println!("dry run: nothing was checked");
    } else {
        println!(
            "skeleton check passed in {}s: renamed to {NAME}, example stripped, built and tested",
            started.elapsed().as_secs()
        );
    }
    Ok(())
}

/// Makes cargo build this checkout's own crates again, from this checkout.
///
/// The copy's crates have the names, versions and workspace-relative paths
/// of this checkout's, so cargo gives their builds the same file names in
/// the shared target folder, and judges freshness by modification times:
/// after the copy built them, they look newer than this checkout's sources,
/// and `cargo build` here would link the copy's renamed, stripped code.
/// Removing their fingerprints (the dependencies' stay) makes the next
/// build here compile them again.
fn forget_workspace_builds(target: &Path, root: &Path) -> anyhow::Result<()> {
    let packages = crate::workspace_packages(root)?;
    let mut folders = vec![target.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ".fingerprint" {
                for fingerprint in std::fs::read_dir(&path)?.flatten() {
                    let file_name = fingerprint.file_name().to_string_lossy().into_owned();
                    if packages.iter().any(|p| is_build_of(&file_name, p)) {
                        std::fs::remove_dir_all(fingerprint.path()).with_context(|| {
                            format!("removing {}", fingerprint.path().display())
                        })?;
                    }
                }
            } else if !matches!(name.as_str(), "deps" | "build" | "incremental" | "examples") {
                folders.push(path);
            }
        }
    }
    Ok(())
}

/// Whether `dir` (`api-0f33c684fdf69653`) is a fingerprint of `package`.
fn is_build_of(dir: &str, package: &str) -> bool {
    dir.strip_prefix(package)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hash| hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()))
}

fn progress(step: &str, path: &Path) {
    println!("==> {step} ({})", path.display());
}

fn with_db(mut command: Command, url: &str) -> Command {
    command.env("DATABASE_URL", url);
    command
}

struct Runner {
    dry_run: bool,
}

impl Runner {
    /// Runs `command` with its output passing through, or only shows it.
    fn run(&self, step: &str, mut command: Command) -> anyhow::Result<()> {
        let shown = format!(
            "{} {}",
            command.get_program().to_string_lossy(),
            command
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!("==> {step}: {shown}");
        if self.dry_run {
            return Ok(());
        }
        let status = command
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {shown}"))?;
        if !status.success() {
            bail!("{step} failed ({status}): {shown}");
        }
        Ok(())
    }
}

/// Copies what git sees of `root` (tracked, and untracked but not ignored,
/// as they are in the working tree) into `to`.
fn copy_checkout(root: &Path, to: &Path) -> anyhow::Result<()> {
    let listing = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .context("listing the checkout's files with git")?;
    ensure!(listing.status.success(), "git ls-files failed");
    for name in listing.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let relative = Path::new(std::str::from_utf8(name).context("a file name")?);
        let source = root.join(relative);
        if !source.is_file() {
            continue; // deleted in the working tree
        }
        let destination = to.join(relative);
        if let Some(parent) = destination.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&source, &destination)
            .with_context(|| format!("copying {}", relative.display()))?;
    }
    Ok(())
}

/// Files of the copy that still say "beacon" (make-it-yours' own source,
/// whose test data it is, excepted).
fn leftovers(root: &Path) -> anyhow::Result<Vec<String>> {
    let output = Command::new("grep")
        .args([
            "-rli",
            "beacon",
            "--exclude-dir=target",
            "--exclude-dir=node_modules",
            ".",
        ])
        .current_dir(root)
        .output()
        .context("running grep")?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_owned())
        .filter(|l| l != "xtask/src/make_it_yours.rs")
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_packages_own_fingerprints_are_forgotten() {
        assert!(is_build_of("api-0f33c684fdf69653", "api"));
        assert!(!is_build_of("apalis-redis-0f33c684fdf69653", "api"));
        assert!(!is_build_of("api-redis-0f33c684fdf69653", "api"));
        assert!(!is_build_of("api-0f33c684", "api"));
    }

    #[test]
    fn the_workspace_packages_are_read_from_the_manifests() {
        let packages = crate::workspace_packages(&crate::repo_root()).expect("manifests");
        for package in ["platform", "accounts", "api", "worker", "xtask"] {
            assert!(packages.iter().any(|p| p == package), "{packages:?}");
        }
    }
}
