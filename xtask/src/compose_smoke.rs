//! `cargo xtask compose-smoke`: the images and docker/docker-compose.yml,
//! for real. Builds the four images, starts the stack under a project name
//! of its own, and drives it through the web port only, as a user would:
//! the journey every deployment harness takes ([`crate::journey`]: the
//! skeleton's contract through nginx, api, Postgres, Redis, worker, NATS and
//! SSE, then each area's own scenario).
//!
//! Where no engine runs, or the engine cannot fetch the base images, there
//! is nothing here to prove and it says so and passes: the CI workflow,
//! where Docker builds, is where it must pass. The stack is taken down
//! (`compose down --volumes`) however the run ends: [`Stack`]'s `Drop`, with
//! Ctrl-C turned into an unwinding error by [`crate::processes`].

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use reqwest::{StatusCode, blocking::Client};

use crate::{
    cmd::{self, Runner},
    journey::{self, Visitor},
    processes, show,
};

/// The build log, the stack's logs and the event stream, for CI to keep.
const ARTIFACTS: &str = ".artifacts/compose";
const COMPOSE_FILE: &str = "docker/docker-compose.yml";
/// stop_grace_period is 30 s; `down` stops every service in parallel.
const DOWN_BUDGET: Duration = Duration::from_secs(40);
/// Four images built from nothing, then migrations: slow on a cold cache.
const READY_WITHIN: Duration = Duration::from_secs(300);
/// Any one request of the journey (the stream's too): longer than every wait
/// on the stream together.
const JOURNEY_TIMEOUT: Duration = Duration::from_secs(300);
/// What a failed build's log says when the engine could not fetch the base
/// images (no registry, no network): nothing here can build, which is not
/// this project's failure. Matched case-insensitively.
const CANNOT_FETCH: [&str; 8] = [
    "pull",
    "registry",
    "manifest",
    "no such host",
    "name resolution",
    "dial tcp",
    "i/o timeout",
    "x509",
];
/// A URL inside the compose network, which anything making requests to
/// user-supplied URLs (APP_ENV=production) must refuse.
const INSIDE: &str = "http://web:8080/health";

/// Build the images and drive docker/docker-compose.yml through the web port
///
/// With Docker (docker compose) or Podman (podman compose):
///   1. builds the api, worker, web and nats images (BuildKit, cache mounts as
///      written)
///   2. starts docker/docker-compose.yml under a project name of its own, with
///      a random JWT_SECRET and the web port on a free local port
///   3. through the web port only, the journey (xtask/src/journey.rs):
///      /api/ready and /health answer 200; signs up, logs in, opens
///      /api/events, sees the welcome job's event arrive on it (nginx, api,
///      Postgres, Redis, worker, NATS, SSE) and logging out everywhere end
///      the stream; then each area's own scenario
///   4. `compose down`, which must finish within the services' grace periods
///
/// Everything it started is removed on exit (`compose down --volumes`), also
/// when a step fails or it is stopped; the logs are in .artifacts/compose/.
///
/// Where no engine runs, or the engine cannot build (base images cannot be
/// pulled), it says why and exits 0: the CI workflow is where it must pass.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Options {
    /// Print the commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let runner = Runner::in_repository(root, options.dry_run)?;
    let engine = match Engine::detect() {
        Some(engine) => engine,
        None if options.dry_run => Engine::Docker,
        None => {
            return skipped(
                "no container engine with compose runs here (docker compose or podman compose)",
            );
        }
    };
    if !options.dry_run {
        std::fs::create_dir_all(ARTIFACTS).with_context(|| format!("creating {ARTIFACTS}"))?;
    }
    let mut stack = Stack::new(engine, runner)?;

    show::step(&format!("Build the images ({})", stack.project));
    if let Some(line) = stack.build()? {
        return skipped(&format!("the engine cannot fetch the base images ({line})"));
    }

    let web = format!("http://127.0.0.1:{}", stack.web_port);
    show::step(&format!("Start the stack on {web}"));
    stack.up()?;
    let user = User::new(&web, runner)?;
    user.wait_until_ready()?;

    show::step("A user's journey through the web port: the skeleton's contract, then each area's");
    // The stack runs with APP_ENV=production: a target inside the compose
    // network is refused, and the refusal is a check like any other.
    if !options.dry_run {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let client = reqwest::Client::builder()
                    .timeout(JOURNEY_TIMEOUT)
                    .build()?;
                let visitor = Visitor::new(client, &web);
                let proved = |what: &str| show::progress(&format!("  proved: {what}"));
                let user = visitor.skeleton(&proved).await?;
                journey::areas(&visitor, &user, &[INSIDE.to_owned()], &proved).await
            })?;
    }

    show::step("Stop within the grace periods");
    let took = stack.down()?;
    if options.dry_run {
        println!("dry run: nothing was started");
    } else {
        show::progress(&format!(
            "compose smoke test passed (down in {}s)",
            took.as_secs()
        ));
    }
    Ok(())
}

fn skipped(why: &str) -> anyhow::Result<()> {
    show::progress(&format!("compose smoke test skipped: {why}"));
    Ok(())
}

/// The engine whose compose runs the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Docker,
    Podman,
}

impl Engine {
    /// Docker when its daemon answers and it has compose, else Podman when
    /// it does; `None` when neither runs here.
    fn detect() -> Option<Self> {
        [Self::Docker, Self::Podman].into_iter().find(|engine| {
            let program = engine.program();
            cmd::find_program(program).is_some()
                && answers(program, &["info"])
                && answers(program, &["compose", "version"])
        })
    }

    fn program(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }
}

/// Whether a read-only probe succeeds; it runs under `--dry-run` too.
fn answers(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The first line of a failed build's log that says the base images could
/// not be fetched.
fn cannot_fetch(build_log: &str) -> Option<&str> {
    build_log.lines().find(|line| {
        let line = line.to_lowercase();
        CANNOT_FETCH.iter().any(|pattern| line.contains(pattern))
    })
}

/// The compose project this run starts; taken down when dropped, if it was
/// started.
struct Stack {
    engine: Engine,
    project: String,
    web_port: u16,
    /// This run's own signing key: given to compose in its environment, never
    /// on a command line or in the output.
    jwt_secret: String,
    runner: Runner,
    started: bool,
}

impl Stack {
    fn new(engine: Engine, runner: Runner) -> anyhow::Result<Self> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Ok(Self {
            engine,
            project: format!("beacon-smoke-{now}{}", std::process::id()),
            web_port: free_port()?,
            jwt_secret: rand::random::<[u8; 32]>()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
            runner,
            started: false,
        })
    }

    /// `<engine> compose` on this run's project, with the environment the
    /// compose file reads.
    fn compose(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.engine.program());
        command
            .arg("compose")
            .args(["--project-name", &self.project, "--file", COMPOSE_FILE])
            .args(args)
            // BuildKit: the Dockerfiles' cache mounts need it.
            .env("DOCKER_BUILDKIT", "1")
            .env("JWT_SECRET", &self.jwt_secret)
            .env("WEB_PORT", self.web_port.to_string());
        command
    }

    /// Builds the images, the output in the build log. `Some(line)` when
    /// the engine could not fetch the base images: the line that says so.
    fn build(&self) -> anyhow::Result<Option<String>> {
        let log_path = Path::new(ARTIFACTS).join("build.log");
        let mut build = self.compose(&["build"]);
        if !self.runner.dry_run {
            let log = std::fs::File::create(&log_path)
                .with_context(|| format!("creating {}", log_path.display()))?;
            build.stdout(log.try_clone()?).stderr(log);
        }
        show::progress(&format!("(its output goes to {})", log_path.display()));
        let Err(error) = self.runner.run(&mut build) else {
            return Ok(None);
        };
        processes::check_interrupted()?;
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = cannot_fetch(&log) {
            return Ok(Some(line.trim().to_owned()));
        }
        eprintln!("{}", processes::tail(&log_path, 40));
        Err(error).with_context(|| {
            format!(
                "building the images failed; the whole log is {}",
                log_path.display()
            )
        })
    }

    fn up(&mut self) -> anyhow::Result<()> {
        // Before it runs: a half-started stack is taken down too.
        self.started = true;
        self.runner.run(&mut self.compose(&["up", "--detach"]))
    }

    /// `compose down --volumes`, timed: it must finish within
    /// [`DOWN_BUDGET`], or a service ignores SIGTERM.
    fn down(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.runner.run(&mut self.compose(&["down", "--volumes"]))?;
        self.started = false;
        let took = started.elapsed();
        if took > DOWN_BUDGET {
            bail!(
                "compose down took {}s, more than {}s: a service ignores SIGTERM",
                took.as_secs(),
                DOWN_BUDGET.as_secs()
            );
        }
        Ok(took)
    }

    /// Keeps the stack's logs, then removes everything the run started.
    /// Plain commands, not the runner's: they must run after Ctrl-C too.
    fn clean_up(&self) {
        let log_path = Path::new(ARTIFACTS).join("compose.log");
        show::progress(&format!(
            "cleaning up: the stack's logs to {}, then compose down --volumes",
            log_path.display()
        ));
        if let Ok(log) = std::fs::File::create(&log_path) {
            let mut logs = self.compose(&["logs", "--no-color"]);
            if let Ok(copy) = log.try_clone() {
                logs.stdout(copy).stderr(log);
                let _ = logs.stdin(Stdio::null()).status();
            }
        }
        let _ = self
            .compose(&["down", "--volumes", "--timeout", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.started && !self.runner.dry_run {
            self.clean_up();
        }
    }
}

/// A port nothing listens on now, for the web front.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The user, through the web port only, with a cookie jar: the session is a
/// cookie, Secure in production, which the jar sends to 127.0.0.1 as a
/// browser does to localhost.
struct User {
    web: String,
    client: Client,
    runner: Runner,
}

impl User {
    fn new(web: &str, runner: Runner) -> anyhow::Result<Self> {
        let client = Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            web: web.to_owned(),
            client,
            runner,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.web)
    }

    /// Polls /api/ready until it answers 200: the api has its database,
    /// Redis and NATS, behind nginx.
    fn wait_until_ready(&self) -> anyhow::Result<()> {
        let url = self.url("/api/ready");
        show::progress(&format!(
            "+ GET {url} until it answers 200 (at most {}s)",
            READY_WITHIN.as_secs()
        ));
        if self.runner.dry_run {
            return Ok(());
        }
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            processes::check_interrupted()?;
            let answer = self.client.get(&url).timeout(Duration::from_secs(5)).send();
            if answer.is_ok_and(|response| response.status() == StatusCode::OK) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{url} did not answer 200 within {}s; see {ARTIFACTS}/compose.log",
                    READY_WITHIN.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_that_could_not_fetch_its_base_images_is_recognised() {
        let podman = "STEP 1/12: FROM docker.io/lukemathwalker/cargo-chef:latest-rust-1.95 AS chef\n\
                      Trying to pull docker.io/lukemathwalker/cargo-chef:latest-rust-1.95...\n\
                      Error: creating build container: initializing source: dial tcp: lookup registry-1.docker.io: no such host";
        assert_eq!(
            cannot_fetch(podman),
            Some("Trying to pull docker.io/lukemathwalker/cargo-chef:latest-rust-1.95...")
        );
        let docker = "#3 ERROR: failed to do request: Head \"https://registry-1.docker.io/v2/library/debian/manifests/trixie-slim\": x509: certificate signed by unknown authority";
        assert_eq!(cannot_fetch(docker), Some(docker));
        assert!(cannot_fetch("Temporary failure in Name Resolution").is_some());
    }

    #[test]
    fn a_build_that_failed_on_its_own_is_not_skipped() {
        let log = "#12 [builder 5/6] RUN cargo build --release\n\
                   error[E0425]: cannot find value `x` in this scope\n\
                   ERROR: failed to solve: process \"/bin/sh -c cargo build\" did not complete successfully: exit code: 101";
        assert_eq!(cannot_fetch(log), None);
    }

    #[test]
    fn the_secret_reaches_compose_in_its_environment_and_is_never_shown() {
        let stack = Stack::new(Engine::Podman, Runner { dry_run: true }).expect("a stack");
        assert_eq!(stack.jwt_secret.len(), 64);
        let build = stack.compose(&["build"]);
        assert!(
            build
                .get_envs()
                .any(|(name, value)| name == "JWT_SECRET"
                    && value == Some(stack.jwt_secret.as_ref()))
        );
        let shown = show::shown(&build);
        assert!(!shown.contains(&stack.jwt_secret), "{shown}");
        assert!(
            shown.ends_with(&format!(
                "podman compose --project-name {} --file docker/docker-compose.yml build",
                stack.project
            )),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("WEB_PORT={}", stack.web_port)),
            "{shown}"
        );
    }
}
