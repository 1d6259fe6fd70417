//! What `cargo xtask bench` makes of its tools' output: wrk's report line,
//! pgbench's summary, the JSON of the bench examples and Redis' command
//! counters become typed results; the targets are judged once, here; and the
//! results become `results.json` and the Markdown table.

use std::{collections::BTreeMap, fmt::Write as _};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The percentile of `values` by nearest rank, so a median is a value that
/// was measured; `None` when there is none.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

/// One wrk run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wrk {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub socket_errors: u64,
}

/// The line `wrk-report.lua` prints in `done()`.
#[derive(Deserialize)]
struct WrkDone {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
    socket_errors: u64,
    non_2xx: u64,
}

/// wrk's output: its own report, then the JSON line of `wrk-report.lua`.
pub fn parse_wrk(output: &str) -> anyhow::Result<Wrk> {
    let line = output
        .lines()
        .rfind(|line| line.starts_with('{'))
        .context("wrk printed no report line (is wrk-report.lua its script?)")?;
    let done: WrkDone =
        serde_json::from_str(line).with_context(|| format!("wrk's report line: {line}"))?;
    if done.requests == 0 || done.duration_us == 0 {
        bail!("no request completed");
    }
    if done.non_2xx > 0 {
        bail!("{} responses were not 2xx", done.non_2xx);
    }
    Ok(Wrk {
        rps: done.requests as f64 / (done.duration_us as f64 / 1e6),
        p50_ms: done.p50_us as f64 / 1000.0,
        p99_ms: done.p99_us as f64 / 1000.0,
        requests: done.requests,
        socket_errors: done.socket_errors,
    })
}

/// pgbench's summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pgbench {
    pub tps: f64,
    pub latency_avg_ms: f64,
}

/// pgbench's output: `tps = 14309.1 (without initial connection time)`
/// and `latency average = 4.470 ms`.
pub fn parse_pgbench(output: &str) -> anyhow::Result<Pgbench> {
    let number_after = |prefix: &str| {
        output.lines().find_map(|line| {
            let value = line.strip_prefix(prefix)?.split_whitespace().next()?;
            value.parse::<f64>().ok()
        })
    };
    match (number_after("tps = "), number_after("latency average = ")) {
        (Some(tps), Some(latency_avg_ms)) => Ok(Pgbench {
            tps,
            latency_avg_ms,
        }),
        _ => bail!("pgbench printed no tps and latency average"),
    }
}

/// The one JSON object a bench example prints on stdout.
pub fn printed<T: serde::de::DeserializeOwned>(output: &str, example: &str) -> anyhow::Result<T> {
    serde_json::from_str(output.trim()).with_context(|| format!("{example}'s JSON: {output}"))
}

/// Spawn to liveness and to readiness, from `api/examples/bench_startup.rs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Startup {
    pub runs: usize,
    pub health_ms: Vec<f64>,
    pub ready_ms: Vec<f64>,
    pub health_ms_median: Option<f64>,
    pub ready_ms_median: Option<f64>,
}

pub fn parse_startup(output: &str) -> anyhow::Result<Startup> {
    #[derive(Deserialize)]
    struct Printed {
        health_ms: Vec<f64>,
        ready_ms: Vec<f64>,
    }
    let printed: Printed = printed(output, "bench_startup")?;
    if printed.health_ms.is_empty() {
        bail!("bench_startup measured no start-up");
    }
    Ok(Startup {
        runs: printed.health_ms.len(),
        health_ms_median: percentile(&printed.health_ms, 50.0),
        ready_ms_median: percentile(&printed.ready_ms, 50.0),
        health_ms: printed.health_ms,
        ready_ms: printed.ready_ms,
    })
}

/// Event latencies in a row, one per sample: the skeleton's NATS publish →
/// SSE event (`api/examples/bench_sse_latency.rs`), or an area's own path to
/// the browser.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sse {
    pub samples: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub latencies_ms: Vec<f64>,
}

/// `{"latencies_ms": [...]}`, as `example` printed it.
pub fn parse_sse(output: &str, example: &str) -> anyhow::Result<Sse> {
    #[derive(Deserialize)]
    struct Printed {
        latencies_ms: Vec<f64>,
    }
    let printed: Printed = printed(output, example)?;
    if printed.latencies_ms.is_empty() {
        bail!("{example} measured no sample");
    }
    let latencies_ms = printed.latencies_ms;
    Ok(Sse {
        samples: latencies_ms.len(),
        p50_ms: percentile(&latencies_ms, 50.0),
        p99_ms: percentile(&latencies_ms, 99.0),
        max_ms: percentile(&latencies_ms, 100.0),
        latencies_ms,
    })
}

/// The Redis commands an idle worker sent in a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleRedis {
    pub window_secs: f64,
    pub commands: u64,
    pub commands_per_min: f64,
    pub by_command: BTreeMap<String, u64>,
}

/// `INFO commandstats` (`cmdstat_get:calls=12,usec=…`), less the bench's
/// own INFO and CONFIG, over a window of `window_secs`.
pub fn parse_idle_redis(commandstats: &str, window_secs: f64) -> anyhow::Result<IdleRedis> {
    let mut by_command = BTreeMap::new();
    for line in commandstats.lines() {
        let Some((command, stats)) = line.trim().split_once(':') else {
            continue;
        };
        let Some(command) = command.strip_prefix("cmdstat_") else {
            continue;
        };
        if command.starts_with("info") || command.starts_with("config") {
            continue;
        }
        let calls = stats
            .split(',')
            .find_map(|field| field.strip_prefix("calls="))
            .with_context(|| format!("no calls= in {line}"))?;
        let calls: u64 = calls.parse().with_context(|| format!("calls= in {line}"))?;
        by_command.insert(command.to_owned(), calls);
    }
    let commands = by_command.values().sum();
    Ok(IdleRedis {
        window_secs,
        commands,
        commands_per_min: commands as f64 / window_secs * 60.0,
        by_command,
    })
}

/// The api's peak memory right after many logins at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginBurst {
    pub logins: usize,
    pub peak_mb: f64,
    /// How many answered with each status ("000": no answer).
    pub statuses: BTreeMap<String, u64>,
}

/// Resident memory of the api and the worker, in MB (2^20 bytes); each
/// may be missing when its measurement failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rss {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_idle_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_idle_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_peak_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_peak_mb: Option<f64>,
}

impl Rss {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The dashboard's JS and CSS, gzip -9.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frontend {
    pub js_css_gzip_bytes: u64,
    pub js_css_gzip_kb: f64,
    pub files: usize,
}

/// How the run was made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    pub date: String,
    pub commit: String,
    pub profile: String,
    pub cpu: String,
    pub cores: usize,
    pub smoke: bool,
    pub connections: u32,
    pub duration_secs: u32,
    pub wrk_threads: u32,
    pub sse_samples: u32,
    pub startup_runs: u32,
    pub idle_window_min_secs: u32,
    pub cpu_quota_percent: Option<f64>,
    pub wrk: String,
    pub pgbench: String,
}

/// An area's own measurements, beside the skeleton's: what its load costs
/// (its queries, its jobs, its way to the browser), judged against targets
/// of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Its key under `areas` in results.json.
    pub name: &'static str,
    pub json: serde_json::Value,
    pub rows: Vec<Row>,
    pub targets: Vec<Target>,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    pub measurement: String,
    pub value: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    /// The ids of the targets the row judges, shown in order ("met / met").
    pub judges: Vec<&'static str>,
}

/// Every measurement of a run; a measurement that produced no number is
/// missing, and its name is in `failed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    pub meta: Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hello: Option<Wrk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_health: Option<Wrk>,
    /// `GET /api/auth/me` with a bearer token: the session check and one
    /// query, what every authenticated request pays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_me: Option<Wrk>,
    /// pgbench on the query of `GET /api/auth/me`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pgbench: Option<Pgbench>,
    /// NATS publish → SSE event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Sse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_idle_redis: Option<IdleRedis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_burst: Option<LoginBurst>,
    #[serde(skip_serializing_if = "Rss::is_empty")]
    pub rss: Rss,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontend: Option<Frontend>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "areas_by_name"
    )]
    pub areas: Vec<Area>,
    pub failed: Vec<String>,
}

fn areas_by_name<S: serde::Serializer>(areas: &[Area], to: S) -> Result<S::Ok, S::Error> {
    to.collect_map(areas.iter().map(|area| (area.name, &area.json)))
}

/// The skeleton's numbers over its baselines' in the same run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratios {
    pub health_vs_hello: Option<f64>,
    pub me_vs_pgbench: Option<f64>,
}

/// Which way a target points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Op {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<=")]
    AtMost,
}

/// One target, judged: `met` is `None` when there is no number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub id: &'static str,
    pub value: Option<f64>,
    pub unit: &'static str,
    pub limit: f64,
    pub op: Op,
    pub met: Option<bool>,
}

impl Target {
    pub fn new(
        id: &'static str,
        value: Option<f64>,
        unit: &'static str,
        op: Op,
        limit: f64,
    ) -> Self {
        let met = value.map(|value| match op {
            Op::AtLeast => value >= limit,
            Op::AtMost => value <= limit,
        });
        Self {
            id,
            value,
            unit,
            limit,
            op,
            met,
        }
    }
}

/// `results.json`: the results, their ratios and the targets.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    results: &'a Results,
    ratios: Ratios,
    targets: Vec<Target>,
}

pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// A wrk run in a cell: requests per second and two percentiles.
pub fn wrk_cell(wrk: Option<&Wrk>) -> String {
    match wrk {
        None => "failed".to_owned(),
        Some(w) => format!(
            "{} req/s · p50 {} ms · p99 {} ms",
            n(Some(w.rps), 0),
            n(Some(w.p50_ms), 2),
            n(Some(w.p99_ms), 2)
        ),
    }
}

/// A pgbench run in a cell.
pub fn pgbench_cell(pgbench: Option<&Pgbench>) -> String {
    match pgbench {
        None => "failed".to_owned(),
        Some(p) => format!(
            "{} TPS · avg {} ms",
            n(Some(p.tps), 0),
            n(Some(p.latency_avg_ms), 2)
        ),
    }
}

impl Results {
    pub fn ratios(&self) -> Ratios {
        Ratios {
            health_vs_hello: ratio(
                self.api_health.as_ref().map(|w| w.rps),
                self.hello.as_ref().map(|w| w.rps),
            ),
            me_vs_pgbench: ratio(
                self.api_me.as_ref().map(|w| w.rps),
                self.pgbench.as_ref().map(|p| p.tps),
            ),
        }
    }

    /// Every target, the skeleton's then each area's, each judged once.
    pub fn targets(&self) -> Vec<Target> {
        use Op::{AtLeast, AtMost};
        let ratios = self.ratios();
        let live = self.live.as_ref();
        let startup = self.startup.as_ref();
        let mut targets = vec![
            Target::new("health_vs_hello", ratios.health_vs_hello, "×", AtLeast, 0.8),
            Target::new("me_vs_pgbench", ratios.me_vs_pgbench, "×", AtLeast, 0.6),
            Target::new(
                "live_p50_ms",
                live.and_then(|s| s.p50_ms),
                "ms",
                AtMost,
                25.0,
            ),
            Target::new(
                "live_p99_ms",
                live.and_then(|s| s.p99_ms),
                "ms",
                AtMost,
                100.0,
            ),
            Target::new("api_idle_mb", self.rss.api_idle_mb, "MB", AtMost, 25.0),
            Target::new("api_peak_mb", self.rss.api_peak_mb, "MB", AtMost, 100.0),
            Target::new(
                "login_burst_peak_mb",
                self.login_burst.as_ref().map(|l| l.peak_mb),
                "MB",
                AtMost,
                256.0,
            ),
            Target::new(
                "worker_idle_mb",
                self.rss.worker_idle_mb,
                "MB",
                AtMost,
                25.0,
            ),
            Target::new(
                "worker_peak_mb",
                self.rss.worker_peak_mb,
                "MB",
                AtMost,
                100.0,
            ),
            Target::new(
                "start_to_health_ms",
                startup.and_then(|s| s.health_ms_median),
                "ms",
                AtMost,
                100.0,
            ),
            Target::new(
                "start_to_ready_ms",
                startup.and_then(|s| s.ready_ms_median),
                "ms",
                AtMost,
                500.0,
            ),
            Target::new(
                "frontend_gzip_kb",
                self.frontend.as_ref().map(|f| f.js_css_gzip_kb),
                "KB",
                AtMost,
                60.0,
            ),
        ];
        for area in &self.areas {
            targets.extend(area.targets.iter().cloned());
        }
        targets
    }

    /// `results.json`.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let document = Document {
            results: self,
            ratios: self.ratios(),
            targets: self.targets(),
        };
        Ok(serde_json::to_string_pretty(&document)?)
    }

    /// The skeleton's rows, with each area's.
    fn rows(&self) -> Vec<Row> {
        let m = &self.meta;
        let ratios = self.ratios();
        let live = self.live.as_ref();
        let startup = self.startup.as_ref();
        let idle = self.worker_idle_redis.as_ref();
        let burst = self.login_burst.as_ref();
        let statuses = burst.map_or(String::new(), |b| {
            b.statuses
                .iter()
                .map(|(status, count)| format!("{count}×{status}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let mut rows = vec![
            Row {
                measurement: "`GET /api/health`".into(),
                value: wrk_cell(self.api_health.as_ref()),
                baseline: format!(
                    "bare axum (`api/examples/bench_hello.rs`): {}",
                    wrk_cell(self.hello.as_ref())
                ),
                ratio: n(ratios.health_vs_hello, 2),
                target: "≥ 0.8".into(),
                judges: vec!["health_vs_hello"],
            },
            Row {
                measurement: "`GET /api/auth/me`, bearer token".into(),
                value: wrk_cell(self.api_me.as_ref()),
                baseline: format!(
                    "pgbench, the same query, prepared: {}",
                    pgbench_cell(self.pgbench.as_ref())
                ),
                ratio: n(ratios.me_vs_pgbench, 2),
                target: "≥ 0.6".into(),
                judges: vec!["me_vs_pgbench"],
            },
            Row {
                measurement: format!(
                    "NATS publish → SSE event, p50 of {} in a row",
                    live.map_or(m.sse_samples as usize, |s| s.samples)
                ),
                value: format!("{} ms", n(live.and_then(|s| s.p50_ms), 1)),
                target: "≤ 25 ms".into(),
                judges: vec!["live_p50_ms"],
                ..Row::default()
            },
            Row {
                measurement: "NATS publish → SSE event, p99".into(),
                value: format!("{} ms", n(live.and_then(|s| s.p99_ms), 1)),
                target: "≤ 100 ms".into(),
                judges: vec!["live_p99_ms"],
                ..Row::default()
            },
        ];
        // An area's load follows the skeleton's requests and events, and the
        // resources (memory, Redis, start-up) close the table.
        for area in &self.areas {
            rows.extend(area.rows.iter().cloned());
        }
        rows.extend([
            Row {
                measurement: format!(
                    "worker: Redis commands per idle minute, {} s window",
                    n(idle.map(|i| i.window_secs), 0)
                ),
                value: n(idle.map(|i| i.commands_per_min), 0),
                target: format!(
                    "none; ≈ {} M commands a month",
                    n(idle.map(|i| i.commands_per_min * 43200.0 / 1e6), 1)
                ),
                ..Row::default()
            },
            Row {
                measurement: format!(
                    "api peak RSS after {} logins at once, random emails ({statuses})",
                    burst.map_or("—".to_owned(), |b| b.logins.to_string())
                ),
                value: format!("{} MB", n(burst.map(|b| b.peak_mb), 1)),
                target: "≤ 256 MB, the VM in `fly/fly.api.toml`".into(),
                judges: vec!["login_burst_peak_mb"],
                ..Row::default()
            },
            Row {
                measurement: "api RSS, idle / peak".into(),
                value: format!(
                    "{} / {} MB",
                    n(self.rss.api_idle_mb, 1),
                    n(self.rss.api_peak_mb, 1)
                ),
                target: "≤ 25 / ≤ 100 MB".into(),
                judges: vec!["api_idle_mb", "api_peak_mb"],
                ..Row::default()
            },
            Row {
                measurement: "worker RSS, idle / peak".into(),
                value: format!(
                    "{} / {} MB",
                    n(self.rss.worker_idle_mb, 1),
                    n(self.rss.worker_peak_mb, 1)
                ),
                target: "≤ 25 / ≤ 100 MB".into(),
                judges: vec!["worker_idle_mb", "worker_peak_mb"],
                ..Row::default()
            },
            Row {
                measurement: format!(
                    "start → `/api/health` 200, median of {}",
                    startup.map_or(m.startup_runs as usize, |s| s.runs)
                ),
                value: format!("{} ms", n(startup.and_then(|s| s.health_ms_median), 1)),
                target: "≤ 100 ms".into(),
                judges: vec!["start_to_health_ms"],
                ..Row::default()
            },
            Row {
                measurement: "start → `/api/ready` 200, median".into(),
                value: format!("{} ms", n(startup.and_then(|s| s.ready_ms_median), 1)),
                target: "≤ 500 ms".into(),
                judges: vec!["start_to_ready_ms"],
                ..Row::default()
            },
            Row {
                measurement: "frontend JS + CSS, gzip -9".into(),
                value: format!(
                    "{} KB",
                    n(self.frontend.as_ref().map(|f| f.js_css_gzip_kb), 1)
                ),
                target: "≤ 60 KB".into(),
                judges: vec!["frontend_gzip_kb"],
                ..Row::default()
            },
        ]);
        rows
    }

    /// The table, in Markdown, so it can be pasted into the README as it is.
    pub fn to_markdown(&self) -> String {
        let m = &self.meta;
        let targets = self.targets();
        let verdict = |id: &str| match targets.iter().find(|t| t.id == id).and_then(|t| t.met) {
            None => "no number",
            Some(true) => "met",
            Some(false) => "**not met**",
        };
        let quota = m
            .cpu_quota_percent
            .map(|q| format!(" --cpu-quota {q}"))
            .unwrap_or_default();

        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!(
            "## Beacon benchmark, {}{}",
            m.date,
            if m.smoke {
                ", smoke run: these numbers mean nothing"
            } else {
                ""
            }
        ));
        line(String::new());
        let mut about = format!(
            "Commit {}, {} build, {} cores ({}). wrk {} and pgbench {}: {} connections for {} s each, {} threads.",
            m.commit,
            m.profile,
            m.cores,
            m.cpu,
            m.wrk,
            m.pgbench,
            m.connections,
            m.duration_secs,
            m.wrk_threads
        );
        if let Some(q) = m.cpu_quota_percent {
            let _ = write!(
                about,
                " The api and the worker each ran in a cgroup limited to {q} % of one core; the baselines ran unlimited."
            );
        }
        let _ = write!(
            about,
            " MB and KB are 2^20 and 2^10 bytes. Reproduce with `cargo xtask bench{quota}`."
        );
        line(about);
        line(String::new());
        line("| measurement | Beacon | baseline, same run | Beacon / baseline | target | |".into());
        line("| --- | --- | --- | --- | --- | --- |".into());
        for row in self.rows() {
            let verdicts: Vec<&str> = row.judges.iter().map(|id| verdict(id)).collect();
            let verdicts = verdicts.join(" / ");
            let cells = [
                &row.measurement,
                &row.value,
                &row.baseline,
                &row.ratio,
                &row.target,
                &verdicts,
            ];
            // An empty cell is `| |`, as in a hand-written table.
            let cells: Vec<String> = cells
                .iter()
                .map(|cell| match cell.is_empty() {
                    true => " ".to_owned(),
                    false => format!(" {cell} "),
                })
                .collect();
            line(format!("|{}|", cells.join("|")));
        }
        if !self.failed.is_empty() {
            line(String::new());
            line(format!("No number from: {}.", self.failed.join("; ")));
        }
        out
    }
}

/// A number rounded to `digits` decimals, without trailing zeros (57487,
/// 1.05, 18), or a dash when there is none.
pub fn n(value: Option<f64>, digits: i32) -> String {
    match value {
        None => "—".to_owned(),
        Some(value) => {
            let scale = 10f64.powi(digits);
            // Adding 0.0 turns -0 into 0.
            format!("{}", (value * scale).round() / scale + 0.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wrk 4.2's report as `wrk-report.lua` ends it.
    const WRK_OUTPUT: &str = "\
Running 10s test @ http://127.0.0.1:41234/api/health
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.12ms    0.53ms  12.40ms   79.20%
    Req/Sec    28.90k     2.10k   33.10k    71.00%
  574870 requests in 10.00s, 91.02MB read
Requests/sec:  57487.00
Transfer/sec:      9.10MB
{\"requests\":574870,\"duration_us\":10000000,\"p50_us\":1050,\"p99_us\":2730,\"socket_errors\":3,\"non_2xx\":0}
";

    const PGBENCH_OUTPUT: &str = "\
pgbench (16.4 (Debian 16.4-1.pgdg120+2))
transaction type: /work/main/.artifacts/bench/list_for_user.sql
scaling factor: 1
query mode: prepared
number of clients: 64
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 143090
number of failed transactions: 0 (0.000%)
latency average = 4.470 ms
initial connection time = 61.806 ms
tps = 14309.123456 (without initial connection time)
";

    #[test]
    fn wrk_is_read_from_the_report_line_of_done() -> anyhow::Result<()> {
        let wrk = parse_wrk(WRK_OUTPUT)?;
        assert_eq!(
            wrk,
            Wrk {
                rps: 57487.0,
                p50_ms: 1.05,
                p99_ms: 2.73,
                requests: 574870,
                socket_errors: 3,
            }
        );
        Ok(())
    }

    #[test]
    fn wrk_without_a_report_line_or_with_errors_is_no_number() {
        let without = WRK_OUTPUT.replace('{', "(");
        assert!(parse_wrk(&without).is_err());
        let non_2xx = WRK_OUTPUT.replace("\"non_2xx\":0", "\"non_2xx\":12");
        let error = parse_wrk(&non_2xx).expect_err("non-2xx answers fail it");
        assert_eq!(error.to_string(), "12 responses were not 2xx");
        let none = WRK_OUTPUT.replace("\"requests\":574870", "\"requests\":0");
        assert!(parse_wrk(&none).is_err());
    }

    #[test]
    fn pgbench_gives_tps_and_average_latency() -> anyhow::Result<()> {
        assert_eq!(
            parse_pgbench(PGBENCH_OUTPUT)?,
            Pgbench {
                tps: 14309.123456,
                latency_avg_ms: 4.47,
            }
        );
        let cut = PGBENCH_OUTPUT.replace("tps = ", "");
        assert!(parse_pgbench(&cut).is_err());
        Ok(())
    }

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&values, 50.0), Some(3.0));
        assert_eq!(percentile(&values, 99.0), Some(5.0));
        assert_eq!(percentile(&values, 20.0), Some(1.0));
        assert_eq!(percentile(&values, 21.0), Some(2.0));
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        // Even counts take the lower middle: a value that was measured.
        assert_eq!(percentile(&[10.0, 40.0, 20.0, 30.0], 50.0), Some(20.0));
        assert_eq!(percentile(&[], 50.0), None);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 99.0), Some(99.0));
    }

    #[test]
    fn idle_redis_counts_the_workers_commands_only() -> anyhow::Result<()> {
        let info = "# Commandstats\r\n\
            cmdstat_evalsha:calls=40,usec=900,usec_per_call=22.50,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_info:calls=1,usec=50,usec_per_call=50.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_config|resetstat:calls=1,usec=9,usec_per_call=9.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_hset:calls=20,usec=60,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n";
        let idle = parse_idle_redis(info, 30.0)?;
        assert_eq!(idle.commands, 60);
        assert_eq!(idle.commands_per_min, 120.0);
        assert_eq!(
            idle.by_command.keys().collect::<Vec<_>>(),
            ["evalsha", "hset"]
        );
        Ok(())
    }

    fn fixture() -> Results {
        let wrk = |rps: f64, p50_ms: f64, p99_ms: f64| Wrk {
            rps,
            p50_ms,
            p99_ms,
            requests: 1,
            socket_errors: 0,
        };
        Results {
            meta: Meta {
                date: "2026-12-01 10:00 UTC".into(),
                commit: "8a1449b".into(),
                profile: "release".into(),
                cpu: "AMD EPYC".into(),
                cores: 2,
                smoke: false,
                connections: 64,
                duration_secs: 10,
                wrk_threads: 2,
                sse_samples: 200,
                startup_runs: 5,
                idle_window_min_secs: 60,
                cpu_quota_percent: None,
                wrk: "4.2.0".into(),
                pgbench: "16.4".into(),
            },
            startup: Some(Startup {
                runs: 5,
                health_ms: vec![7.4],
                ready_ms: vec![99.4],
                health_ms_median: Some(7.4),
                ready_ms_median: Some(99.4),
            }),
            hello: Some(wrk(98077.4, 0.56, 3.24)),
            api_health: Some(wrk(57487.2, 1.05, 2.73)),
            api_me: Some(wrk(7012.0, 8.9, 16.1)),
            pgbench: Some(Pgbench {
                tps: 21040.0,
                latency_avg_ms: 3.04,
            }),
            live: Some(Sse {
                samples: 200,
                p50_ms: Some(0.4),
                p99_ms: Some(1.2),
                max_ms: Some(2.0),
                latencies_ms: vec![0.4],
            }),
            worker_idle_redis: Some(IdleRedis {
                window_secs: 60.2,
                commands: 1072,
                commands_per_min: 1072.0,
                by_command: BTreeMap::new(),
            }),
            login_burst: Some(LoginBurst {
                logins: 24,
                peak_mb: 180.25,
                statuses: BTreeMap::from([("401".to_owned(), 23), ("429".to_owned(), 1)]),
            }),
            rss: Rss {
                api_idle_mb: Some(12.7),
                worker_idle_mb: Some(10.8),
                api_peak_mb: Some(49.5),
                worker_peak_mb: Some(14.4),
            },
            frontend: Some(Frontend {
                js_css_gzip_bytes: 11571,
                js_css_gzip_kb: 11571.0 / 1024.0,
                files: 2,
            }),
            areas: Vec::new(),
            failed: Vec::new(),
        }
    }

    const FIXTURE_TABLE: &str = "\
## Beacon benchmark, 2026-12-01 10:00 UTC

Commit 8a1449b, release build, 2 cores (AMD EPYC). wrk 4.2.0 and pgbench 16.4: 64 connections for 10 s each, 2 threads. MB and KB are 2^20 and 2^10 bytes. Reproduce with `cargo xtask bench`.

| measurement | Beacon | baseline, same run | Beacon / baseline | target | |
| --- | --- | --- | --- | --- | --- |
| `GET /api/health` | 57487 req/s · p50 1.05 ms · p99 2.73 ms | bare axum (`api/examples/bench_hello.rs`): 98077 req/s · p50 0.56 ms · p99 3.24 ms | 0.59 | ≥ 0.8 | **not met** |
| `GET /api/auth/me`, bearer token | 7012 req/s · p50 8.9 ms · p99 16.1 ms | pgbench, the same query, prepared: 21040 TPS · avg 3.04 ms | 0.33 | ≥ 0.6 | **not met** |
| NATS publish → SSE event, p50 of 200 in a row | 0.4 ms | | | ≤ 25 ms | met |
| NATS publish → SSE event, p99 | 1.2 ms | | | ≤ 100 ms | met |
| worker: Redis commands per idle minute, 60 s window | 1072 | | | none; ≈ 46.3 M commands a month | |
| api peak RSS after 24 logins at once, random emails (23×401, 1×429) | 180.3 MB | | | ≤ 256 MB, the VM in `fly/fly.api.toml` | met |
| api RSS, idle / peak | 12.7 / 49.5 MB | | | ≤ 25 / ≤ 100 MB | met / met |
| worker RSS, idle / peak | 10.8 / 14.4 MB | | | ≤ 25 / ≤ 100 MB | met / met |
| start → `/api/health` 200, median of 5 | 7.4 ms | | | ≤ 100 ms | met |
| start → `/api/ready` 200, median | 99.4 ms | | | ≤ 500 ms | met |
| frontend JS + CSS, gzip -9 | 11.3 KB | | | ≤ 60 KB | met |
";

    #[test]
    fn the_table_renders_every_measurement_and_judges_the_targets() {
        assert_eq!(fixture().to_markdown(), FIXTURE_TABLE);
    }

    #[test]
    fn a_missing_measurement_shows_a_dash_and_is_named() {
        let mut results = fixture();
        results.api_health = None;
        results.rss.worker_peak_mb = None;
        results.meta.cpu_quota_percent = Some(6.25);
        results.meta.smoke = true;
        results.failed = vec!["wrk: GET /api/health".into(), "Peak RSS".into()];
        let table = results.to_markdown();
        assert!(table.starts_with(
            "## Beacon benchmark, 2026-12-01 10:00 UTC, smoke run: these numbers mean nothing\n"
        ));
        assert!(table.contains("limited to 6.25 % of one core"), "{table}");
        assert!(
            table.contains("`cargo xtask bench --cpu-quota 6.25`"),
            "{table}"
        );
        assert!(
            table.contains("| `GET /api/health` | failed | bare axum"),
            "{table}"
        );
        assert!(table.contains("| — | ≥ 0.8 | no number |"), "{table}");
        assert!(table.contains("| 10.8 / — MB | | | ≤ 25 / ≤ 100 MB | met / no number |"));
        assert!(table.ends_with("\nNo number from: wrk: GET /api/health; Peak RSS.\n"));
    }

    #[test]
    fn results_json_keeps_its_shape() -> anyhow::Result<()> {
        let mut results = fixture();
        results.pgbench = None;
        results.rss = Rss {
            api_idle_mb: Some(12.5),
            ..Rss::default()
        };
        let json: serde_json::Value = serde_json::from_str(&results.to_json()?)?;
        assert_eq!(json["meta"]["cpu_quota_percent"], serde_json::Value::Null);
        assert_eq!(json["hello"]["rps"], 98077.4);
        assert_eq!(json["api_health"]["p99_ms"], 2.73);
        assert!(
            json.get("pgbench").is_none(),
            "a failed measurement is left out"
        );
        assert_eq!(json["rss"], serde_json::json!({"api_idle_mb": 12.5}));
        assert_eq!(json["login_burst"]["statuses"]["401"], 23);
        assert_eq!(json["ratios"]["me_vs_pgbench"], serde_json::Value::Null);
        assert!(json.get("areas").is_none(), "no area, no key");
        let targets = json["targets"].as_array().context("targets")?;
        assert_eq!(targets.len(), 12);
        assert_eq!(
            targets[0],
            serde_json::json!({"id": "health_vs_hello", "value": 57487.2 / 98077.4,
                "unit": "×", "limit": 0.8, "op": ">=", "met": false})
        );
        assert_eq!(targets[1]["met"], serde_json::Value::Null);
        assert_eq!(targets[4]["op"], "<=");
        Ok(())
    }

    #[test]
    fn an_areas_rows_and_targets_follow_the_skeletons() -> anyhow::Result<()> {
        let mut results = fixture();
        results.areas.push(Area {
            name: "orders",
            json: serde_json::json!({"orders_per_sec": 120.0}),
            rows: vec![Row {
                measurement: "orders placed per second".into(),
                value: "120".into(),
                target: "≥ 100".into(),
                judges: vec!["orders_per_sec"],
                ..Row::default()
            }],
            targets: vec![Target::new(
                "orders_per_sec",
                Some(120.0),
                "orders/s",
                Op::AtLeast,
                100.0,
            )],
        });
        let table = results.to_markdown();
        assert!(
            table.contains(
                "| NATS publish → SSE event, p99 | 1.2 ms | | | ≤ 100 ms | met |\n\
                 | orders placed per second | 120 | | | ≥ 100 | met |\n\
                 | worker: Redis commands per idle minute,"
            ),
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&results.to_json()?)?;
        assert_eq!(json["areas"]["orders"]["orders_per_sec"], 120.0);
        let targets = json["targets"].as_array().context("targets")?;
        assert_eq!(targets.len(), 13);
        assert_eq!(targets[12]["id"], "orders_per_sec");
        assert_eq!(targets[12]["met"], true);
        Ok(())
    }
}
