//! `cargo xtask skeleton-check`: proves `make-it-yours` leaves a project
//! that passes its own CI. It copies this checkout (its tracked and
//! untracked, not ignored files, as they are now) to a scratch folder and
//! commits it there, as a fresh clone is; renames the copy and strips the
//! example with make-it-yours; checks that neither the old name, a doubled
//! new one nor the example's words are left; then runs the copy's own
//! `scripts/test.sh`, every check a user of the copy runs.
//!
//! The copy builds into this checkout's `target/` so it reuses every compiled
//! dependency (only the workspace's own crates compile again); the rest it
//! installs as a clone does (its node modules, its linters).

use std::{path::Path, process::Command, time::Instant};

use anyhow::{Context, ensure};

use crate::{
    cmd::{self, Runner, command},
    make_it_yours::{self, Name, Plan},
    show,
};

/// The name the copy is given: two words, so both spellings are exercised.
const NAME: &str = "acme-status";

/// The example's words, which nothing of the skeleton says once it is
/// stripped: whole words, as written (apalis' `Monitor` and NATS'
/// monitoring port are not the example's; `check` and `light` are too
/// common to look for).
const EXAMPLE_WORDS: &[&str] = &["uptime", "Uptime", "monitor", "monitors", "Monitors"];

/// Prove make-it-yours leaves a project that passes its own CI
///
/// Copies this checkout, commits the copy as a clone is, renames it and
/// strips the example there with make-it-yours, then runs the copy's own
/// scripts/test.sh. In a checkout whose example is gone already, there is
/// nothing to check.
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
    if !make_it_yours::has_example(root)? {
        println!("nothing to check: the example was stripped from this checkout already");
        return Ok(());
    }
    let started = Instant::now();
    let scratch = std::env::temp_dir().join(format!("skeleton-check-{}", std::process::id()));
    let target = cmd::target_dir(root);
    let runner = Runner {
        dry_run: options.dry_run,
    };
    let name = Name::parse(NAME)?;
    // The copy's own check database (its scripts' `postgres://…/<name>`),
    // new for every run: one left by an earlier copy may hold migrations
    // this one no longer has.
    let drop_database = || {
        runner.run(command("sqlx", ["database", "drop", "-y", "-f"]).env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{}", name.snake),
        ))
    };

    show::step(&format!(
        "Copy this checkout as a clone ({})",
        scratch.display()
    ));
    if !options.dry_run {
        copy_checkout(root, &scratch)?;
    }
    let git = |args: &[&str]| {
        let mut git = command(
            "git",
            [
                "-c",
                "user.name=Skeleton Check",
                "-c",
                "user.email=skeleton-check@localhost",
            ],
        );
        git.args(args).current_dir(&scratch);
        git
    };
    let result = (|| -> anyhow::Result<()> {
        runner.run(&mut git(&["init", "--quiet"]))?;
        runner.run(&mut git(&["add", "--all"]))?;
        runner.run(&mut git(&[
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "A clone of this checkout",
        ]))?;

        show::step(&format!("make-it-yours --name {NAME} --strip-example"));
        let plan = Plan {
            root: scratch.clone(),
            to: Some(name.clone()),
            strip_example: true,
            allow_dirty: false,
            dry_run: options.dry_run,
        };
        for change in make_it_yours::apply(&plan)? {
            println!("{change}");
        }
        if !options.dry_run {
            let from = make_it_yours::current_name(root)?;
            let doubled = format!("{}-{}", NAME.split('-').next().unwrap_or(NAME), NAME);
            let mut left = Vec::new();
            for word in [from.snake.as_str(), &doubled]
                .into_iter()
                .chain(EXAMPLE_WORDS.iter().copied())
            {
                for file in files_saying(&scratch, word)? {
                    left.push(format!("{file} says {word:?}"));
                }
            }
            ensure!(
                left.is_empty(),
                "the stripped, renamed copy still has:\n  {}",
                left.join("\n  ")
            );
        }
        drop_database()?;
        show::step("The copy's own checks: scripts/test.sh");
        let checked = runner.run(
            cmd::without_package_variables(&mut command("bash", ["scripts/test.sh"]))
                .current_dir(&scratch)
                .env("CARGO_TARGET_DIR", &target),
        );
        drop_database()?;
        checked.context("the copy's scripts/test.sh failed")
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
            "skeleton check passed in {}s: renamed to {NAME}, the example stripped, its own scripts/test.sh green",
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

/// Files of the copy that say `word`: the example's words as whole words,
/// a name in any case and within words (make-it-yours' and this file, whose
/// test data they are, excepted).
fn files_saying(root: &Path, word: &str) -> anyhow::Result<Vec<String>> {
    let how = if EXAMPLE_WORDS.contains(&word) {
        "-rlw"
    } else {
        "-rli"
    };
    let output = Command::new("grep")
        .args([
            how,
            "--exclude-dir=.git",
            "--exclude-dir=node_modules",
            "--exclude-dir=.tools",
            word,
            ".",
        ])
        .current_dir(root)
        .output()
        .context("running grep")?;
    ensure!(
        output.status.code().is_some_and(|c| c <= 1),
        "grep failed in {}",
        root.display()
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_owned())
        .filter(|l| l != "xtask/src/make_it_yours.rs" && l != "xtask/src/skeleton_check.rs")
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
