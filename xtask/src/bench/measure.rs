//! The measurements of `cargo xtask bench`, each a method of the run that
//! returns its number (`None` under `--dry-run`) or an error that names why
//! there is none.

use crate::show;
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use reqwest::blocking::Client;
use serde_json::json;

use super::{
    Bench,
    report::{self, LoginBurst, Meta},
};
use crate::cmd::command;

impl Bench {
    /// VmRSS (resident now) or VmHWM (the peak so far) of a server, in MB.
    pub(super) fn memory_mb(&self, name: &str, field: &str) -> anyhow::Result<Option<f64>> {
        if self.dry_run() {
            return Ok(None);
        }
        let pid = self.servers.pid(name).context("not started")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
        Ok(Some(kb / 1024.0))
    }

    /// Resident memory right after start-up, before any traffic.
    pub(super) fn idle_rss(&mut self, name: &str) -> anyhow::Result<Option<f64>> {
        if !self.dry_run() {
            // Settled: past the first connections to Postgres, Redis and NATS.
            std::thread::sleep(Duration::from_secs(1));
        }
        self.memory_mb(name, "VmRSS")
    }

    /// Runs a tool, keeps what it printed in raw/ for a look after the
    /// run, and reads its number from it.
    pub(super) fn tool_output<T>(
        &self,
        tool: &mut Command,
        raw: &str,
        parse: impl FnOnce(&str) -> anyhow::Result<T>,
    ) -> anyhow::Result<Option<T>> {
        let Some(output) = self.runner.output(tool)? else {
            return Ok(None);
        };
        self.keep_raw(raw, &output)?;
        parse(&output).map(Some)
    }

    /// Where a tool's output is kept, for a look after the run.
    pub(super) fn keep_raw(&self, name: &str, output: &str) -> anyhow::Result<()> {
        let path = self.dir.join("raw").join(name);
        std::fs::write(&path, output).with_context(|| format!("writing {}", path.display()))
    }

    pub(super) fn startup(&mut self) -> anyhow::Result<Option<report::Startup>> {
        let ports = (self.ports.startup, self.ports.startup_metrics);
        let mut bench_startup = self.api_env(Command::new(self.bin.join("examples/bench_startup")));
        bench_startup
            .env("PORT", ports.0.to_string())
            .env("METRICS_PORT", ports.1.to_string())
            .args(["--runs", &self.settings.startup_runs.to_string()])
            .args(["--interval-ms", "5"])
            .args([
                "--health",
                &format!("http://127.0.0.1:{}/api/health", ports.0),
            ])
            .args([
                "--ready",
                &format!("http://127.0.0.1:{}/api/ready", ports.0),
            ])
            .arg("--log")
            .arg(self.servers.log_file("startup"))
            .arg("--")
            .arg(self.bin.join("api"))
            .arg("serve");
        self.tool_output(&mut bench_startup, "startup.out", report::parse_startup)
    }

    /// LOGIN_BURST logins at once for emails that have no account, each a
    /// full argon2id verification (19 MiB while it runs). The api's peak
    /// RSS right after is what PASSWORD_HASH_CONCURRENCY holds down;
    /// measured before wrk can raise the peak for other reasons.
    pub(super) fn login_burst(&mut self) -> anyhow::Result<Option<LoginBurst>> {
        let logins = self.settings.login_burst as usize;
        let url = format!("{}/api/auth/login", self.api_url());
        show::progress(&format!(
            "POST {url} x {logins} (random emails), all at once"
        ));
        if self.dry_run() {
            return Ok(None);
        }
        let client = Client::builder().timeout(Duration::from_secs(60)).build()?;
        let run: u32 = rand::random();
        let start = std::sync::Barrier::new(logins);
        let statuses: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..=logins)
                .map(|i| {
                    let (client, url, start) = (&client, &url, &start);
                    scope.spawn(move || {
                        let body = json!({
                            "email": format!("burst-{i}-{run}@example.com"),
                            "password": "not the password",
                        });
                        start.wait();
                        // "000" as curl prints it: no answer at all.
                        client
                            .post(url)
                            .json(&body)
                            .send()
                            .map_or("000".to_owned(), |r| r.status().as_u16().to_string())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| "000".to_owned()))
                .collect()
        });
        let mut counted = std::collections::BTreeMap::new();
        for status in statuses {
            *counted.entry(status).or_insert(0) += 1;
        }
        let peak_mb = self.memory_mb("api", "VmHWM")?.context("no api")?;
        Ok(Some(LoginBurst {
            logins,
            peak_mb,
            statuses: counted,
        }))
    }

    /// wrk, then the JSON line of `wrk-report.lua`; with `token`, every
    /// request carries the bench user's bearer token (from the environment,
    /// so it never shows on a command line).
    pub(super) fn wrk(
        &mut self,
        name: &str,
        url: &str,
        token: bool,
    ) -> anyhow::Result<Option<report::Wrk>> {
        let s = &self.settings;
        let mut wrk = command(
            &self.tools.wrk,
            [
                "-t".to_owned(),
                s.threads.to_string(),
                "-c".to_owned(),
                s.connections.to_string(),
                "-d".to_owned(),
                format!("{}s", s.duration_secs),
                "--timeout".to_owned(),
                "5s".to_owned(),
            ],
        );
        wrk.arg("-s").arg(self.dir.join("wrk-report.lua")).arg(url);
        if token {
            wrk.env("BENCH_TOKEN", &self.token);
        }
        self.tool_output(&mut wrk, &format!("{name}.wrk"), report::parse_wrk)
    }

    /// pgbench on `script` (a file in the bench's folder) with `:user_id`
    /// set, sent as the api sends its queries: prepared.
    pub(super) fn pgbench(
        &mut self,
        raw: &str,
        script: &str,
        user_id: &str,
    ) -> anyhow::Result<Option<report::Pgbench>> {
        let s = &self.settings;
        let mut pgbench = command(&self.tools.pgbench, ["-n", "-M", "prepared"]);
        pgbench
            .args([
                "-c",
                &s.connections.to_string(),
                "-j",
                &s.threads.to_string(),
            ])
            .args(["-T", &s.duration_secs.to_string()])
            .args(["-D", &format!("user_id={user_id}")])
            .arg("-f")
            .arg(self.dir.join(script))
            .arg(&self.database_url);
        self.tool_output(&mut pgbench, &format!("{raw}.out"), report::parse_pgbench)
    }

    /// NATS publish -> the event on the bench user's stream.
    pub(super) fn live(&mut self) -> anyhow::Result<Option<report::Sse>> {
        let mut sse = Command::new(self.bin.join("examples/bench_sse_latency"));
        sse.args(["--base-url", &self.api_url()])
            .args([
                "--nats-url",
                &format!("nats://127.0.0.1:{}", self.ports.nats),
            ])
            .args(["--user-id", &self.user_id])
            .args(["--samples", &self.settings.sse_samples.to_string()])
            .env("BENCH_TOKEN", &self.token);
        self.tool_output(&mut sse, "live.out", |out| {
            report::parse_sse(out, "bench_sse_latency")
        })
    }

    /// Every command the idle worker sent its Redis since CONFIG RESETSTAT,
    /// over a window of at least `idle_secs`.
    pub(super) fn idle_redis(
        &mut self,
        started: Instant,
    ) -> anyhow::Result<Option<report::IdleRedis>> {
        let window = Duration::from_secs(self.settings.idle_secs.into());
        if !self.dry_run() && started.elapsed() < window {
            let remaining = window - started.elapsed();
            show::progress(&format!(
                "waiting {:.1}s more, so the window lasts {}s",
                remaining.as_secs_f64(),
                window.as_secs()
            ));
            std::thread::sleep(remaining);
        }
        let window_secs = started.elapsed().as_secs_f64();
        let Some(stats) = self.redis_cli(self.ports.idle_redis, &["INFO", "commandstats"])? else {
            return Ok(None);
        };
        self.keep_raw("idle-redis.out", &stats)?;
        report::parse_idle_redis(&stats, window_secs).map(Some)
    }

    /// The dashboard's JS and CSS as the browser downloads them, gzip -9.
    pub(super) fn frontend(&mut self) -> anyhow::Result<Option<report::Frontend>> {
        let frontend = self.root.join("frontend");
        let lock = std::fs::metadata(frontend.join("package-lock.json"))?.modified()?;
        let installed = std::fs::metadata(frontend.join("node_modules/.package-lock.json"))
            .and_then(|m| m.modified())
            .is_ok_and(|installed| installed >= lock);
        if !installed {
            self.runner.run(
                command(
                    "npm",
                    ["--prefix", "frontend", "ci", "--no-audit", "--no-fund"],
                )
                .current_dir(&self.root),
            )?;
        }
        let log = self.servers.log_file("frontend");
        let mut build = command("npm", ["--prefix", "frontend", "run", "build"]);
        build.current_dir(&self.root);
        show::progress(&format!("(its output goes to {})", log.display()));
        if !self.dry_run() {
            let file = std::fs::File::create(&log)?;
            build.stdout(file.try_clone()?).stderr(file);
        }
        self.runner
            .run(&mut build)
            .with_context(|| format!("see {}", log.display()))?;
        let assets = frontend.join("dist/assets");
        if self.dry_run() {
            show::progress(&format!(
                "+ gzip -9 -c {0}/*.js {0}/*.css",
                assets.display()
            ));
            return Ok(None);
        }
        let (mut bytes, mut files) = (0u64, 0usize);
        for entry in std::fs::read_dir(&assets)? {
            let path = entry?.path();
            if !path.extension().is_some_and(|e| e == "js" || e == "css") {
                continue;
            }
            let mut gzip = command("gzip", ["-9", "-c"]);
            gzip.arg(&path);
            show::progress(&show::shown(&gzip));
            let zipped = gzip.output().context("gzip")?;
            if !zipped.status.success() {
                bail!("gzip -9 {} failed", path.display());
            }
            bytes += zipped.stdout.len() as u64;
            files += 1;
        }
        if files == 0 {
            bail!("npm run build left no JS or CSS in {}", assets.display());
        }
        Ok(Some(report::Frontend {
            js_css_gzip_bytes: bytes,
            js_css_gzip_kb: bytes as f64 / 1024.0,
            files,
        }))
    }

    /// How the run was made; the probes are read-only.
    pub(super) fn meta(&self) -> anyhow::Result<Meta> {
        let probe = |program: &Path, args: &[&str]| {
            Command::new(program)
                .args(args)
                .current_dir(&self.root)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let mut commit = probe(Path::new("git"), &["rev-parse", "--short", "HEAD"])
            .trim()
            .to_owned();
        if commit.is_empty() {
            commit = "unknown".into();
        }
        let clean = Command::new("git")
            .args(["diff", "--quiet", "HEAD"])
            .current_dir(&self.root)
            .status()
            .is_ok_and(|s| s.success());
        if !clean {
            commit.push_str(" with uncommitted changes");
        }
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name")?.split_once(": "))
                    .map(|(_, name)| name.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let word = |text: String, n: usize| {
            text.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(n))
                .unwrap_or("unknown")
                .to_owned()
        };
        // wrk prints its version on stderr.
        let wrk = Command::new(&self.tools.wrk)
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr)
            })
            .unwrap_or_default();
        let s = &self.settings;
        Ok(Meta {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            commit,
            profile: s.profile.to_owned(),
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            smoke: s.smoke,
            connections: s.connections,
            duration_secs: s.duration_secs,
            wrk_threads: s.threads,
            sse_samples: s.sse_samples,
            startup_runs: s.startup_runs,
            idle_window_min_secs: s.idle_secs,
            cpu_quota_percent: s.cpu_quota,
            wrk: word(wrk, 1),
            pgbench: word(probe(&self.tools.pgbench, &["--version"]), 2),
        })
    }
}
