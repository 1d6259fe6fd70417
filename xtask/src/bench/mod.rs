//! `cargo xtask bench`: what one small machine carries. The api and the
//! worker, built as they ship and run with production settings, measured
//! beside baselines taken in the same run on the same machine (a bare axum
//! server, pgbench on the same query), since only ratios within one run mean
//! anything on a shared machine. The numbers and the targets they are judged
//! against are in `report`; docs/BENCHMARKS.md keeps the history.

mod measure;
mod report;
mod uptime; // example

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use platform::testing::{TestDatabase, block_on, free_port};
use reqwest::blocking::Client;
use serde_json::{Value, json};

pub use report::Results;
use report::Rss;

use crate::{
    cmd::{self, Runner, command},
    processes::{self, Processes},
    show,
};

/// The user whose requests and events are measured.
const BENCH_EMAIL: &str = "bench@example.com";
const BENCH_PASSWORD: &str = "bench-password-0123456789";
/// The bench's Redis is its own, so one fixed prefix is enough.
const QUEUE_PREFIX: &str = "beacon:bench";
const READY_WITHIN: Duration = Duration::from_secs(60);
const WRK_SCRIPT: &str = include_str!("wrk-report.lua");
const ME_QUERY: &str = include_str!("user_by_id.sql");

/// Measure what one small machine carries, beside baselines of the same run
///
/// Runs, on 127.0.0.1 only:
///   1. cargo build --release: api, worker and the bench's own examples
///      (api/examples/bench_hello.rs, bench_startup.rs, bench_sse_latency.rs,
///      and the areas'), offline from the .sqlx cache
///   2. a fresh database, migrated with `api migrate run`, and a Redis and a
///      NATS of the bench's own on free ports, so nothing else on the machine
///      shares their queues, subjects or command counters
///   3. start-up: `api serve` started BENCH_STARTUP_RUNS times; time from the
///      spawn to /api/health 200 and to /api/ready 200, polled every 5 ms
///      (median)
///   4. the stack with production settings (APP_ENV=production,
///      LOG_FORMAT=json, RUST_LOG=info, a random JWT_SECRET, logs in
///      .artifacts/bench/): the bare axum baseline, the api, a worker, and a
///      second, idle worker on a Redis of its own whose commands are counted
///      while everything else runs; a user signed up through the api
///   5. the api's peak RSS (VmHWM) right after BENCH_LOGIN_BURST logins at
///      once for emails with no account (each an argon2id check)
///   6. wrk, N connections for SECS each: the baseline, GET /api/health, and
///      GET /api/auth/me with the user's bearer token (the session check and
///      one query, what every signed-in request pays); then pgbench on that
///      query with the same connections and duration
///   7. NATS publish -> SSE event latency on the user's stream,
///      BENCH_SSE_SAMPLES samples in a row
///   8. each area's own measurements (a module of xtask/src/bench/ each:
///      its load, its queries, its way to the browser, beside baselines)
///   9. idle and peak RSS (VmRSS, VmHWM) of the api and the worker; Redis
///      commands per idle minute of the idle worker; the frontend's JS + CSS
///      gzipped (gzip -9)
///
/// Prints the table with its targets and writes it to
/// .artifacts/bench/results.md and results.json. Needs wrk, pgbench, psql,
/// redis-server, redis-cli and nats-server (scripts/test.sh installs them)
/// and Postgres on 127.0.0.1:5432. Every process it started is stopped and
/// the database dropped on exit. Fails when any measurement produced no
/// number; a missed target is reported, not an error.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Options {
    /// Tiny durations and counts (8 connections for 1 s, 10 samples, 2
    /// start-ups, a 5 s idle window, and the areas' own): proves the harness
    /// works; the numbers mean nothing.
    #[arg(long)]
    pub smoke: bool,
    /// Build and measure the debug profile instead of release; for --smoke
    /// in cargo xtask test, which builds the debug profile for its other
    /// checks anyway (the numbers mean nothing).
    #[arg(long)]
    pub debug: bool,
    /// wrk and pgbench connections [default: 64; 8 with --smoke].
    #[arg(long, value_name = "N", env = "BENCH_CONNECTIONS", value_parser = positive())]
    pub connections: Option<u32>,
    /// Each wrk and pgbench run, in seconds [default: 10; 1 with --smoke].
    #[arg(long, value_name = "SECS", env = "BENCH_DURATION_SECS", value_parser = positive())]
    pub duration: Option<u32>,
    /// wrk and pgbench threads [default: 2].
    #[arg(long, value_name = "N", env = "BENCH_THREADS", value_parser = positive())]
    pub threads: Option<u32>,
    /// Event latency samples [default: 200; 10 with --smoke].
    #[arg(long, value_name = "N", env = "BENCH_SSE_SAMPLES", value_parser = positive())]
    pub samples: Option<u32>,
    /// Start-ups timed [default: 5; 2 with --smoke].
    #[arg(long, value_name = "N", env = "BENCH_STARTUP_RUNS", value_parser = positive())]
    pub startup_runs: Option<u32>,
    /// The shortest window the idle worker's Redis commands are counted
    /// over, in seconds [default: 60; 5 with --smoke].
    #[arg(long, value_name = "SECS", env = "BENCH_IDLE_SECS", value_parser = positive())]
    pub idle_secs: Option<u32>,
    /// Logins sent at once before the api's peak RSS is read [default: 24].
    #[arg(long, value_name = "N", env = "BENCH_LOGIN_BURST", value_parser = positive())]
    pub login_burst: Option<u32>,
    /// Run the api and the worker each in a cgroup of its own limited to PCT
    /// % of one core: 100 models a shared-cpu-1x VM bursting, 6.25 its
    /// baseline (root; cgroup v1 or v2) [default: no limit].
    #[arg(long, value_name = "PCT", env = "BENCH_CPU_QUOTA", value_parser = cpu_quota)]
    pub cpu_quota: Option<f64>,
    /// Where the results and the logs go, relative to the repository.
    #[arg(
        long,
        value_name = "DIR",
        env = "BENCH_DIR",
        default_value = ".artifacts/bench"
    )]
    pub dir: PathBuf,
    /// Print the commands instead of running them (read-only probes still
    /// run).
    #[arg(long)]
    pub dry_run: bool,
    // example:begin
    #[command(flatten)]
    pub example: uptime::Load,
    // example:end
}

fn positive() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..)
}

fn cpu_quota(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(quota) if (1.0..=100.0).contains(&quota) => Ok(quota),
        _ => Err(format!(
            "a percentage of one core between 1 and 100, got '{value}'"
        )),
    }
}

/// The options with every default filled in.
#[derive(Debug, Clone)]
struct Settings {
    smoke: bool,
    profile: &'static str,
    connections: u32,
    duration_secs: u32,
    threads: u32,
    sse_samples: u32,
    startup_runs: u32,
    idle_secs: u32,
    login_burst: u32,
    cpu_quota: Option<f64>,
    example: uptime::Load, // example
}

impl Settings {
    fn new(options: &Options) -> anyhow::Result<Self> {
        // Few connections in smoke mode: it runs inside cargo xtask test,
        // beside other databases' pools, under Postgres' default
        // max_connections of 100.
        let pick = |set: Option<u32>, full: u32, smoke: u32| {
            set.unwrap_or(if options.smoke { smoke } else { full })
        };
        let settings = Self {
            smoke: options.smoke,
            profile: if options.debug { "debug" } else { "release" },
            connections: pick(options.connections, 64, 8),
            duration_secs: pick(options.duration, 10, 1),
            threads: pick(options.threads, 2, 2),
            sse_samples: pick(options.samples, 200, 10),
            startup_runs: pick(options.startup_runs, 5, 2),
            idle_secs: pick(options.idle_secs, 60, 5),
            login_burst: pick(options.login_burst, 24, 24),
            cpu_quota: options.cpu_quota,
            example: options.example.clone(), // example
        };
        if settings.connections < settings.threads {
            bail!(
                "--connections ({}) must be at least BENCH_THREADS ({})",
                settings.connections,
                settings.threads
            );
        }
        Ok(settings)
    }
}

pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let settings = Settings::new(options)?;
    let runner = Runner {
        dry_run: options.dry_run,
    };
    let dir = root.join(&options.dir);

    show::step("Tools: wrk, pgbench, psql, redis-server, redis-cli, nats-server; Postgres");
    let tools = Tools::find(options.dry_run)?;

    show::step(&format!(
        "Build ({}): api, worker and the bench's examples",
        settings.profile
    ));
    let mut build = cmd::cargo();
    build.arg("build");
    if settings.profile == "release" {
        build.arg("--release");
    }
    build.args(["-p", "api", "-p", "worker", "--bins", "--examples"]);
    build.args(["-p", "uptime"]); // example
    build.env("SQLX_OFFLINE", "true").current_dir(root);
    runner.run(&mut build)?;

    show::step("A database of its own; a Redis and a NATS of the bench's own");
    if !options.dry_run {
        // Everything in the folder then comes from this run.
        if dir.join("raw").exists() {
            std::fs::remove_dir_all(dir.join("raw"))?;
        }
        std::fs::create_dir_all(dir.join("raw"))
            .with_context(|| format!("creating {}", dir.display()))?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "log") {
                std::fs::remove_file(&path)?;
            }
        }
        std::fs::write(dir.join("wrk-report.lua"), WRK_SCRIPT)?;
        std::fs::write(dir.join("user_by_id.sql"), ME_QUERY)?;
    }
    let database = (!options.dry_run).then(|| block_on(TestDatabase::empty()));
    let database_url = database
        .as_ref()
        .map_or("postgres://postgres@127.0.0.1:5432/<fresh>".into(), |d| {
            d.url.clone()
        });
    // Declared after the database and the cgroups: stopped before either goes.
    let mut cgroups = Cgroups::default();
    let mut bench = Bench {
        runner,
        bin: cmd::target_dir(root).join(settings.profile),
        settings,
        root: root.to_owned(),
        servers: Processes::new(&dir, options.dry_run)?,
        ports: Ports::pick(),
        dir,
        database_url,
        jwt_secret: random_hex(32),
        tools,
        token: String::from("<token>"),
        user_id: String::from("<user id>"),
        areas: Vec::new(),
        failed: Vec::new(),
    };
    let results = bench.measure_everything(&mut cgroups)?;

    let Some(results) = results else {
        println!("dry run: nothing was measured");
        return Ok(());
    };
    show::step("Results");
    let json = results.to_json()?;
    let table = results.to_markdown();
    std::fs::write(bench.dir.join("results.json"), json)?;
    std::fs::write(bench.dir.join("results.md"), &table)?;
    println!("\n{table}");

    show::step("Stop");
    bench.servers.stop_all();
    drop(cgroups);
    drop(database);
    let left = processes::leftovers();
    if !left.is_empty() {
        processes::stop_leftovers();
        let names: Vec<String> = left.iter().map(ToString::to_string).collect();
        bail!("left running after the bench: {}", names.join(", "));
    }
    show::progress(&format!(
        "written to {}/results.md and results.json, logs in {0}/ ({}s)",
        bench.dir.display(),
        started.elapsed().as_secs()
    ));
    if !results.failed.is_empty() {
        bail!(
            "{} measurement(s) produced no number: {}",
            results.failed.len(),
            results.failed.join("; ")
        );
    }
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// The programs the bench runs besides its own.
struct Tools {
    wrk: PathBuf,
    pgbench: PathBuf,
    psql: PathBuf,
    redis_server: PathBuf,
    redis_cli: PathBuf,
    nats_server: PathBuf,
}

impl Tools {
    fn find(dry_run: bool) -> anyhow::Result<Self> {
        let find = |name: &str, package: &str| -> anyhow::Result<PathBuf> {
            if dry_run {
                return Ok(cmd::find_program(name).unwrap_or_else(|| name.into()));
            }
            cmd::require_program(
                name,
                &format!("apt-get install {package}; scripts/test.sh installs it"),
            )
        };
        let tools = Self {
            wrk: find("wrk", "wrk")?,
            pgbench: find("pgbench", "postgresql-client postgresql-contrib")?,
            psql: find("psql", "postgresql-client")?,
            redis_server: find("redis-server", "redis-server")?,
            redis_cli: find("redis-cli", "redis-tools")?,
            nats_server: find("nats-server", "nats-server")?,
        };
        if !dry_run {
            // Debian's pgbench is a wrapper that needs the real one behind it.
            let version = Command::new(&tools.pgbench).arg("--version").output();
            if !version.is_ok_and(|v| v.status.success()) {
                bail!(
                    "pgbench --version fails: apt-get install postgresql-client postgresql-contrib"
                );
            }
            let base = platform::testing::postgres_base_url();
            let answers = Command::new(&tools.psql)
                .args(["-X", "-q", "-c", "SELECT 1", "-d"])
                .arg(format!("{base}/postgres"))
                .output();
            if !answers.is_ok_and(|a| a.status.success()) {
                bail!("Postgres does not answer at {base} (scripts/dev.sh starts it)");
            }
        }
        show::progress("wrk, pgbench, psql, redis-server, redis-cli and nats-server are installed");
        Ok(tools)
    }
}

/// Every port the run listens on, distinct.
struct Ports {
    redis: u16,
    idle_redis: u16,
    nats: u16,
    hello: u16,
    api: u16,
    api_metrics: u16,
    startup: u16,
    startup_metrics: u16,
    worker: u16,
    idle_worker: u16,
}

impl Ports {
    fn pick() -> Self {
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 10 {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        Self {
            redis: ports[0],
            idle_redis: ports[1],
            nats: ports[2],
            hello: ports[3],
            api: ports[4],
            api_metrics: ports[5],
            startup: ports[6],
            startup_metrics: ports[7],
            worker: ports[8],
            idle_worker: ports[9],
        }
    }
}

/// The cgroups `--cpu-quota` made, removed when the run ends (after the
/// processes in them stopped).
#[derive(Default)]
struct Cgroups(Vec<PathBuf>);

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.0.drain(..).rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// One run: its settings, servers and what seeding returned.
struct Bench {
    runner: Runner,
    settings: Settings,
    root: PathBuf,
    dir: PathBuf,
    /// target/<profile>.
    bin: PathBuf,
    tools: Tools,
    servers: Processes,
    ports: Ports,
    database_url: String,
    jwt_secret: String,
    /// The bench user's bearer token and id (placeholders under --dry-run).
    token: String,
    user_id: String,
    /// What the areas measured, each beside the skeleton's numbers.
    areas: Vec<report::Area>,
    /// The measurements that produced no number.
    failed: Vec<String>,
}

impl Bench {
    fn dry_run(&self) -> bool {
        self.runner.dry_run
    }

    fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.api)
    }

    /// The baseline server, which the worker's outbound requests go to too.
    fn target_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.ports.hello)
    }

    /// The run, in order; `None` under `--dry-run`.
    fn measure_everything(&mut self, cgroups: &mut Cgroups) -> anyhow::Result<Option<Results>> {
        let s = self.settings.clone();
        let api = self.bin.join("api");
        // Its report goes to stderr: stdout is the table's.
        self.runner.run(
            command(&api, ["migrate", "run"])
                .env("DATABASE_URL", &self.database_url)
                .stdout(std::io::stderr())
                .current_dir(&self.root),
        )?;
        let redis = self.tools.redis_server.clone();
        let redis_args = |port: u16| {
            let mut redis = command(&redis, ["--port", &port.to_string()]);
            redis.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            redis
        };
        self.servers.start("redis", redis_args(self.ports.redis))?;
        self.wait_for_port("redis", self.ports.redis)?;
        self.servers
            .start("redis-idle", redis_args(self.ports.idle_redis))?;
        self.wait_for_port("redis-idle", self.ports.idle_redis)?;
        let nats = command(
            &self.tools.nats_server,
            ["-a", "127.0.0.1", "-p", &self.ports.nats.to_string()],
        );
        self.servers.start("nats", nats)?;
        self.wait_for_port("nats", self.ports.nats)?;

        let startup = self.measure(
            &format!(
                "Start-up: spawn -> /api/health and /api/ready 200, {} runs",
                s.startup_runs
            ),
            Self::startup,
        )?;

        show::step("Start: the baseline server and the api");
        let mut hello = Command::new(self.bin.join("examples/bench_hello"));
        hello.env("PORT", self.ports.hello.to_string());
        self.servers.start("hello", hello)?;
        self.servers
            .wait_for_200("hello", &self.target_url(), READY_WITHIN)?;
        let mut serve = self.api_env(command(&api, ["serve"]));
        serve
            .env("PORT", self.ports.api.to_string())
            .env("METRICS_PORT", self.ports.api_metrics.to_string());
        self.servers.start("api", serve)?;
        self.limit_cpu("api", cgroups)?;
        self.servers.wait_for_200(
            "api",
            &format!("{}/api/ready", self.api_url()),
            READY_WITHIN,
        )?;
        let mut rss = Rss {
            api_idle_mb: self.measure("Idle RSS: api", |b| b.idle_rss("api"))?,
            ..Rss::default()
        };

        show::step("Seed: a user, signed up and given a token through the api");
        self.seed()?;

        let login_burst = self.measure(
            &format!(
                "Login burst: {} at once, then the api's peak RSS",
                s.login_burst
            ),
            Self::login_burst,
        )?;

        show::step("Start: the worker, and an idle one on a Redis of its own");
        let worker_bin = self.bin.join("worker");
        // A job's outbound requests go to the baseline server on 127.0.0.1,
        // which only ALLOW_PRIVATE_TARGETS=true permits, and the worker
        // refuses that with APP_ENV=production (platform/src/outbound.rs).
        // APP_ENV changes nothing else for the worker: it only picks the
        // defaults of the URLs and of LOG_FORMAT, and all of those are set
        // here.
        let mut worker = self.production_env(Command::new(&worker_bin));
        worker
            .env("APP_ENV", "development")
            .env("ALLOW_PRIVATE_TARGETS", "true")
            .env(
                "REDIS_URL",
                format!("redis://127.0.0.1:{}", self.ports.redis),
            )
            .env("QUEUE_PREFIX", QUEUE_PREFIX)
            .env("WORKER_PORT", self.ports.worker.to_string());
        self.servers.start("worker", worker)?;
        self.limit_cpu("worker", cgroups)?;
        self.servers.wait_for_200(
            "worker",
            &format!("http://127.0.0.1:{}/ready", self.ports.worker),
            READY_WITHIN,
        )?;
        rss.worker_idle_mb = self.measure("Idle RSS: worker", |b| b.idle_rss("worker"))?;
        // The idle worker probes nothing, so it runs in production mode as it is.
        let mut idle_worker = self.production_env(Command::new(&worker_bin));
        idle_worker
            .env(
                "REDIS_URL",
                format!("redis://127.0.0.1:{}", self.ports.idle_redis),
            )
            .env("QUEUE_PREFIX", format!("{QUEUE_PREFIX}:idle"))
            .env("WORKER_PORT", self.ports.idle_worker.to_string());
        self.servers.start("worker-idle", idle_worker)?;
        self.servers.wait_for_200(
            "worker-idle",
            &format!("http://127.0.0.1:{}/ready", self.ports.idle_worker),
            READY_WITHIN,
        )?;
        // Past its start-up (registration, first heartbeat), the idle
        // worker's commands are counted from here while everything else is
        // measured.
        if !self.dry_run() {
            std::thread::sleep(Duration::from_secs(2));
        }
        self.redis_cli(self.ports.idle_redis, &["CONFIG", "RESETSTAT"])?;
        let idle_started = Instant::now();

        let (connections, secs) = (s.connections, s.duration_secs);
        let hello = self.measure(
            &format!("wrk: bare axum baseline, {connections} connections, {secs}s"),
            |b| b.wrk("hello", &b.target_url(), false),
        )?;
        let api_health = self.measure("wrk: GET /api/health", |b| {
            b.wrk("api_health", &format!("{}/api/health", b.api_url()), false)
        })?;
        let api_me = self.measure("wrk: GET /api/auth/me, bearer token", |b| {
            b.wrk("api_me", &format!("{}/api/auth/me", b.api_url()), true)
        })?;
        let pgbench = self.measure(
            &format!("pgbench: the query of /api/auth/me, {connections} connections, {secs}s"),
            |b| b.pgbench("pgbench-me", "user_by_id.sql", &b.user_id.clone()),
        )?;
        let live = self.measure(
            &format!("NATS publish -> SSE event, {} samples", s.sse_samples),
            Self::live,
        )?;
        // Each area's measurements, one line each; they add to self.areas.
        uptime::measure(self, &s.example)?; // example
        if let Some((api, worker)) = self.measure("Peak RSS: api and worker", |b| {
            let api = b.memory_mb("api", "VmHWM")?;
            let worker = b.memory_mb("worker", "VmHWM")?;
            Ok(api.zip(worker))
        })? {
            rss.api_peak_mb = Some(api);
            rss.worker_peak_mb = Some(worker);
        }
        let worker_idle_redis = self.measure(
            &format!(
                "Redis commands of the idle worker, a window of at least {}s",
                s.idle_secs
            ),
            |b| b.idle_redis(idle_started),
        )?;
        let frontend = self.measure("Frontend: JS + CSS gzipped", Self::frontend)?;

        if self.dry_run() {
            return Ok(None);
        }
        Ok(Some(Results {
            meta: self.meta()?,
            startup,
            hello,
            api_health,
            api_me,
            pgbench,
            live,
            worker_idle_redis,
            login_burst,
            rss,
            frontend,
            areas: std::mem::take(&mut self.areas),
            failed: self.failed.clone(),
        }))
    }

    /// Runs one measurement under its own step: a failure is recorded and
    /// the rest still run, unless the run was interrupted.
    fn measure<T>(
        &mut self,
        title: &str,
        measurement: impl FnOnce(&mut Self) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<Option<T>> {
        show::step(title);
        match measurement(self) {
            Ok(value) => Ok(value),
            Err(error) if processes::interrupted() => Err(error),
            Err(error) => {
                show::progress(&format!("error: {title} produced no number: {error:#}"));
                self.failed.push(title.to_owned());
                Ok(None)
            }
        }
    }

    /// Production settings, as on Fly; the signing key is this run's alone.
    fn production_env(&self, mut command: Command) -> Command {
        command
            .env("APP_ENV", "production")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("JWT_SECRET", &self.jwt_secret)
            .env("DATABASE_URL", &self.database_url)
            .env("NATS_URL", format!("nats://127.0.0.1:{}", self.ports.nats))
            .current_dir(&self.root);
        command
    }

    /// The api's: production's, on the bench's Redis and queues.
    fn api_env(&self, command: Command) -> Command {
        let mut command = self.production_env(command);
        command
            .env(
                "REDIS_URL",
                format!("redis://127.0.0.1:{}", self.ports.redis),
            )
            .env("QUEUE_PREFIX", QUEUE_PREFIX);
        // Every sample of check now -> SSE is a manual check of one user.
        command.env("MANUAL_CHECKS_PER_MINUTE", "10000"); // example
        command
    }

    /// Waits until `name` accepts connections on `port` (Redis, NATS).
    fn wait_for_port(&mut self, name: &str, port: u16) -> anyhow::Result<()> {
        show::progress(&format!("waiting for 127.0.0.1:{port}"));
        if self.dry_run() {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            processes::check_interrupted()?;
            self.servers.check_running(name)?;
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{name} did not listen on {port} within 10s; see {}",
                    self.servers.log_file(name).display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn redis_cli(&self, port: u16, args: &[&str]) -> anyhow::Result<Option<String>> {
        let mut redis_cli = command(&self.tools.redis_cli, ["-p", &port.to_string()]);
        redis_cli.args(args);
        self.runner.output(&mut redis_cli)
    }

    /// Moves `name`'s process into a cgroup of its own limited to the
    /// quota of one core (a 100 ms period), as a Fly shared-cpu VM limits
    /// it; every thread it starts later stays there.
    fn limit_cpu(&self, name: &str, cgroups: &mut Cgroups) -> anyhow::Result<()> {
        let Some(quota) = self.settings.cpu_quota else {
            return Ok(());
        };
        let quota_us = (quota * 1000.0) as u64;
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").is_file();
        let group = format!("beacon-bench-{}-{name}", std::process::id());
        let dir = match v2 {
            true => Path::new("/sys/fs/cgroup").join(group),
            false => Path::new("/sys/fs/cgroup/cpu").join(group),
        };
        show::progress(&format!(
            "{name} runs on {quota} % of one core ({})",
            dir.display()
        ));
        if self.dry_run() {
            return Ok(());
        }
        let pid = self.servers.pid(name).context("not started")?;
        let write = |file: &str, value: String| {
            std::fs::write(dir.join(file), value)
                .with_context(|| format!("writing {} (root?)", dir.join(file).display()))
        };
        if v2 {
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        cgroups.0.push(dir.clone());
        if v2 {
            write("cpu.max", format!("{quota_us} 100000"))?;
        } else {
            write("cpu.cfs_period_us", "100000".into())?;
            write("cpu.cfs_quota_us", quota_us.to_string())?;
        }
        write("cgroup.procs", pid.to_string())
    }

    /// The bench user, signed up through the api: its bearer token is what
    /// wrk and the SSE clients send.
    fn seed(&mut self) -> anyhow::Result<()> {
        let api = self.api_url();
        let credentials = json!({"email": BENCH_EMAIL, "password": BENCH_PASSWORD});
        show::progress(&format!(
            "POST {api}/api/auth/signup, then /api/auth/token; GET /api/auth/me"
        ));
        if self.dry_run() {
            return Ok(());
        }
        self.post("/api/auth/signup", &credentials, None)?;
        let token = self.post("/api/auth/token", &credentials, None)?;
        self.token = token["token"]
            .as_str()
            .context("POST /api/auth/token gave no token")?
            .to_owned();
        let me = self.get("/api/auth/me")?;
        self.user_id = me["user"]["id"]
            .as_str()
            .context("GET /api/auth/me gave no user id")?
            .to_owned();
        Ok(())
    }

    /// A request to the api, with the bench user's token when `token` is
    /// set; its JSON answer, or an error that names the api's log.
    fn post(&self, path: &str, body: &Value, token: Option<&str>) -> anyhow::Result<Value> {
        let mut request = self
            .client()?
            .post(format!("{}{path}", self.api_url()))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.answer(request, &format!("POST {path}"))
    }

    /// `GET path` as the bench user.
    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let request = self
            .client()?
            .get(format!("{}{path}", self.api_url()))
            .bearer_auth(&self.token);
        self.answer(request, &format!("GET {path}"))
    }

    fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::builder().timeout(Duration::from_secs(30)).build()?)
    }

    fn answer(
        &self,
        request: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<Value> {
        let log = self.servers.log_file("api");
        let response = request
            .send()
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("{what}; see {}", log.display()))?;
        // An empty answer (204) is JSON null.
        let body = response.text()?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).with_context(|| format!("{what} answered {body}"))
    }
}
