//! `cargo xtask dev`: the local stack, from this checkout. A NATS server of
//! its own from docker/nats (the configuration Fly runs, users and all), the
//! api, the worker, and nginx serving the built dashboard from the config
//! template Fly runs. `scripts/dev.sh` installs and starts Postgres, Redis
//! and nginx first, then runs this.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::{
    cmd::{self, Runner, command},
    nginx,
    processes::{self, Processes},
    show,
};

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/beacon";
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Longer than the api's own drain (SHUTDOWN_TIMEOUT_SECS, 20 s by default).
const STOP_WITHIN: Duration = Duration::from_secs(30);
/// Development passwords: this NATS listens on 127.0.0.1 only.
const NATS_PASSWORDS: [(&str, &str); 3] = [
    ("NATS_API_PASSWORD_1", "dev-api"),
    ("NATS_WORKER_PASSWORD_1", "dev-worker"),
    ("NATS_ROUTE_PASSWORD", "dev-route"),
];
/// The stack, in start order; stopped in reverse.
const STACK: [&str; 4] = ["nats", "api", "worker", "web"];

/// Bring the local stack up: build the api, the worker and the dashboard;
/// create the database `beacon` (when DATABASE_URL is the default) and
/// migrate it; start a NATS of its own from docker/nats/nats.conf (the api
/// and the worker sign in as their own users, limited to their subjects,
/// as in production), the api, the worker (which may reach private
/// addresses locally, so outbound requests can target localhost) and nginx on
/// WEB_PORT, each waited for until it answers. Logs go to .artifacts/dev/.
/// Then it waits: Ctrl-C stops everything gracefully. Every other variable
/// of the README's configuration table reaches the api and the worker as is.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Leave the processes running in the background and return.
    #[arg(long, conflicts_with = "stop")]
    pub detach: bool,
    /// Stop what an earlier --detach left running.
    #[arg(long)]
    pub stop: bool,
    /// The api's HTTP port.
    #[arg(long, env = "PORT", default_value_t = 8080, value_name = "PORT")]
    pub port: u16,
    /// The api's Prometheus port.
    #[arg(
        long,
        env = "METRICS_PORT",
        default_value_t = 9091,
        value_name = "PORT"
    )]
    pub metrics_port: u16,
    /// The worker's /health, /ready and /metrics port.
    #[arg(long, env = "WORKER_PORT", default_value_t = 9092, value_name = "PORT")]
    pub worker_port: u16,
    /// The dashboard, through nginx.
    #[arg(long, env = "WEB_PORT", default_value_t = 8000, value_name = "PORT")]
    pub web_port: u16,
    /// This stack's NATS (the machine's own, on 4222, is the tests'); its
    /// monitoring port is this plus 4000.
    #[arg(long, env = "NATS_PORT", default_value_t = 4223, value_name = "PORT")]
    pub nats_port: u16,
    /// The database; only the default one is created here.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, value_name = "URL")]
    pub database_url: String,
    /// Print what would run and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let dir = root.join(".artifacts/dev");
    if options.stop {
        return stop_detached(root, &dir, options.dry_run);
    }
    let runner = Runner {
        dry_run: options.dry_run,
    };
    let target = cmd::target_dir(root);
    let (api, worker) = (target.join("debug/api"), target.join("debug/worker"));
    let nats_monitor = options
        .nats_port
        .checked_add(4000)
        .context("NATS_PORT + 4000 is not a port")?;
    for name in STACK {
        if let Some(pid) = running_pid(root, &dir, name) {
            bail!("{name} is already running (pid {pid}); stop it with scripts/dev.sh --stop");
        }
    }

    cmd::build_stack(&runner, root)?;

    show::step("Database");
    if options.database_url == DEFAULT_DATABASE_URL {
        ensure_database(&runner)?;
    } else {
        show::progress("DATABASE_URL is set: not creating a database, only migrating it");
    }
    let app = |program: &Path, args: &[&str]| {
        let mut command = command(program, args);
        command
            .env("PORT", options.port.to_string())
            .env("METRICS_PORT", options.metrics_port.to_string())
            .env("WORKER_PORT", options.worker_port.to_string())
            .env("DATABASE_URL", &options.database_url)
            // Development only: lets outbound requests reach localhost.
            .env(
                "ALLOW_PRIVATE_TARGETS",
                std::env::var("ALLOW_PRIVATE_TARGETS").unwrap_or_else(|_| "true".into()),
            )
            .current_dir(root);
        command
    };
    runner.run(&mut app(&api, &["migrate", "run"]))?;

    show::step("Start");
    let mut stack = Processes::detachable(&dir, options.dry_run)?;
    // A cluster of one: its route points at itself, which nats-server skips.
    let mut nats = command(
        "sh",
        [
            root.join("docker/nats/entrypoint.sh").display().to_string(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            options.nats_port.to_string(),
            "-m".into(),
            nats_monitor.to_string(),
            "--cluster".into(),
            "nats://route:dev-route@127.0.0.1:6222".into(),
        ],
    );
    nats.envs(NATS_PASSWORDS)
        .env("NATS_PEERS", "127.0.0.1")
        .env("NATS_CONFIG", root.join("docker/nats/nats.conf"))
        .current_dir(root);
    start(&mut stack, &dir, "nats", nats)?;
    stack.wait_for_200(
        "nats",
        &format!("http://127.0.0.1:{nats_monitor}/healthz"),
        READY_WITHIN,
    )?;
    let nats_url = |user: &str, password: &str| {
        format!("nats://{user}:{password}@127.0.0.1:{}", options.nats_port)
    };
    let mut serve = app(&api, &["serve"]);
    serve.env("NATS_URL", nats_url("api-1", "dev-api"));
    start(&mut stack, &dir, "api", serve)?;
    stack.wait_for_200(
        "api",
        &format!("http://127.0.0.1:{}/api/ready", options.port),
        READY_WITHIN,
    )?;
    let mut work = app(&worker, &[]);
    work.env("NATS_URL", nats_url("worker-1", "dev-worker"));
    start(&mut stack, &dir, "worker", work)?;
    stack.wait_for_200(
        "worker",
        &format!("http://127.0.0.1:{}/ready", options.worker_port),
        READY_WITHIN,
    )?;
    let site = dir.join("nginx");
    if !options.dry_run {
        nginx::render(
            root,
            &site,
            &nginx::local_site(
                root,
                options.web_port,
                &format!("127.0.0.1:{}", options.port),
            ),
        )?;
    }
    start(&mut stack, &dir, "web", nginx::command(&site)?)?;
    stack.wait_for_200(
        "web",
        &format!("http://127.0.0.1:{}/api/ready", options.web_port),
        READY_WITHIN,
    )?;
    print_endpoints(options, &dir);
    if options.dry_run {
        return Ok(());
    }
    if options.detach {
        stack.detach();
        println!(
            "\nnats, api, worker and web run in the background; stop them with scripts/dev.sh --stop"
        );
        return Ok(());
    }

    println!("\nPress Ctrl-C to stop.");
    let outcome = loop {
        if processes::interrupted() {
            break Ok(());
        }
        if let Some(failed) = STACK
            .iter()
            .map(|name| stack.check_running(name))
            .find(Result::is_err)
        {
            break failed;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    stack.stop_all();
    for name in STACK {
        let _ = std::fs::remove_file(pid_file(&dir, name));
    }
    outcome
}

/// Starts one process of the stack, with a pid file `--stop` finds.
fn start(stack: &mut Processes, dir: &Path, name: &str, command: Command) -> anyhow::Result<()> {
    stack.start(name, command)?;
    if let Some(pid) = stack.pid(name) {
        std::fs::write(pid_file(dir, name), format!("{pid}\n"))?;
    }
    Ok(())
}

fn pid_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.pid"))
}

/// A pid file can outlive its process and the pid be reused: only a live
/// process whose command line names this checkout counts.
fn running_pid(root: &Path, dir: &Path, name: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file(dir, name))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let process = processes::Process::read(pid)?;
    let ours = process.command_line().contains(&*root.to_string_lossy());
    (!process.zombie && ours).then_some(pid)
}

/// Stops what a `--detach` run left running, last started first: SIGTERM,
/// as Fly sends, and SIGKILL only if it will not stop.
fn stop_detached(root: &Path, dir: &Path, dry_run: bool) -> anyhow::Result<()> {
    let mut found = false;
    for name in STACK.iter().rev() {
        let Some(pid) = running_pid(root, dir, name) else {
            let _ = std::fs::remove_file(pid_file(dir, name));
            continue;
        };
        found = true;
        show::progress(&format!("stopping {name} (pid {pid})"));
        show::progress(&format!("+ kill -TERM {pid}"));
        if dry_run {
            continue;
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_WITHIN;
        while running_pid(root, dir, name).is_some() {
            if Instant::now() >= deadline {
                show::progress(&format!(
                    "{name} did not stop within {STOP_WITHIN:?}; killing it"
                ));
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(pid_file(dir, name));
    }
    if !found {
        show::progress(&format!(
            "nothing is running (no live pid files in {})",
            dir.display()
        ));
    }
    Ok(())
}

/// Creates the default database unless it exists; one named by
/// DATABASE_URL is the user's to manage.
fn ensure_database(runner: &Runner) -> anyhow::Result<()> {
    let exists = command(
        "psql",
        [
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-X",
            "-tAc",
            "SELECT 1 FROM pg_database WHERE datname = 'beacon'",
        ],
    )
    .output()
    .context("running psql (scripts/dev.sh installs it)")?;
    if String::from_utf8_lossy(&exists.stdout).trim() == "1" {
        show::progress("database beacon exists");
        return Ok(());
    }
    runner.run(&mut command(
        "createdb",
        ["-h", "127.0.0.1", "-U", "postgres", "beacon"],
    ))
}

fn print_endpoints(options: &Options, dir: &Path) {
    let log = |name: &str| dir.join(format!("{name}.log")).display().to_string();
    println!(
        "\nBeacon is up. Open the dashboard: http://localhost:{web}\n\n  \
         API       http://localhost:{api}/api\n  \
         health    http://localhost:{api}/api/health\n  \
         ready     http://localhost:{api}/api/ready\n  \
         OpenAPI   http://localhost:{api}/api/openapi.json\n  \
         metrics   http://localhost:{metrics}/metrics (api), http://localhost:{worker}/metrics (worker)\n  \
         NATS      nats://127.0.0.1:{nats} (users api-1 and worker-1), monitoring http://localhost:{monitoring}\n  \
         logs      {api_log}, {worker_log}, {nats_log}, {nginx_logs}/",
        web = options.web_port,
        api = options.port,
        metrics = options.metrics_port,
        worker = options.worker_port,
        nats = options.nats_port,
        monitoring = u32::from(options.nats_port) + 4000,
        api_log = log("api"),
        worker_log = log("worker"),
        nats_log = log("nats"),
        nginx_logs = dir.join("nginx/logs").display(),
    );
}
