//! The example's measurements in `cargo xtask bench`, beside the skeleton's:
//! a user's monitor list beside pgbench on its query, check now -> SSE, and
//! the worker's checks per second. The model for an area's own: a module of
//! xtask/src/bench/ that seeds through the api (or Postgres), measures with
//! the bench's tools, and adds an [`Area`] of rows and targets to the run;
//! one line in `measure_everything` runs it.

use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Bench, QUEUE_PREFIX, positive,
    report::{self, Area, Op, Pgbench, Row, Sse, Target, Wrk, n, pgbench_cell, ratio, wrk_cell},
};
use crate::{cmd::command, show};

/// The monitors of the user whose `GET /api/monitors` is measured.
const API_MONITORS: usize = 20;
/// The owner of the worker's monitors, written straight into Postgres.
const WORKER_EMAIL: &str = "bench-worker@example.com";
const LIST_QUERY: &str = include_str!("list_for_user.sql");

/// The example's load, beside the bench's own settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Load {
    /// Checks for the worker throughput [default: 5000; 50 with --smoke].
    #[arg(long, value_name = "N", env = "BENCH_CHECKS", value_parser = positive())]
    pub checks: Option<u32>,
    /// Monitors the throughput's checks are spread over [default: 100; 10
    /// with --smoke].
    #[arg(long, value_name = "N", env = "BENCH_WORKER_MONITORS", value_parser = positive())]
    pub worker_monitors: Option<u32>,
}

/// What `uptime/examples/bench_enqueue.rs` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enqueued {
    pub checks: u64,
    pub monitors: u64,
    pub ok: u64,
    pub enqueue_ms: f64,
    pub first_recorded_ms: Option<f64>,
    pub all_recorded_ms: f64,
}

/// The worker's throughput: the checks from the first enqueue to the last
/// row, and from the first row to the last (past the workers' wake-up).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerThroughput {
    #[serde(flatten)]
    pub enqueued: Enqueued,
    pub checks_per_sec: f64,
    pub after_first_checks_per_sec: Option<f64>,
}

pub fn parse_worker_throughput(output: &str) -> anyhow::Result<WorkerThroughput> {
    let enqueued: Enqueued = report::printed(output, "bench_enqueue")?;
    if enqueued.ok < enqueued.checks {
        bail!(
            "only {} of {} checks reached the target",
            enqueued.ok,
            enqueued.checks
        );
    }
    let checks = enqueued.checks as f64;
    let after_first_checks_per_sec = enqueued
        .first_recorded_ms
        .filter(|first| enqueued.all_recorded_ms > *first)
        .map(|first| (checks - 1.0) / ((enqueued.all_recorded_ms - first) / 1000.0));
    Ok(WorkerThroughput {
        checks_per_sec: checks / (enqueued.all_recorded_ms / 1000.0),
        after_first_checks_per_sec,
        enqueued,
    })
}

/// What seeding made: the monitor check now is sent for, and the owner of
/// the worker's monitors.
struct Seeded {
    monitor_id: String,
    worker_user_id: String,
}

/// Every measurement of the example, added to the run's areas (but under
/// `--dry-run`).
pub(super) fn measure(bench: &mut Bench, load: &Load) -> anyhow::Result<()> {
    let smoke = bench.settings.smoke;
    let pick =
        |set: Option<u32>, full: u32, small: u32| set.unwrap_or(if smoke { small } else { full });
    let checks = pick(load.checks, 5000, 50);
    let worker_monitors = pick(load.worker_monitors, 100, 10);
    let (connections, secs) = (bench.settings.connections, bench.settings.duration_secs);
    let samples = bench.settings.sse_samples;

    let Some(seeded) = bench.measure(
        &format!(
            "Seed: {API_MONITORS} monitors for the bench user through the api; \
             {worker_monitors} monitors for the worker"
        ),
        |b| seed(b, worker_monitors),
    )?
    else {
        return Ok(());
    };
    let monitors = bench.measure(
        &format!("wrk: GET /api/monitors, {API_MONITORS} monitors, bearer token"),
        |b| {
            b.wrk(
                "api_monitors",
                &format!("{}/api/monitors", b.api_url()),
                true,
            )
        },
    )?;
    let pgbench = bench.measure(
        &format!("pgbench: the monitors query, {connections} connections, {secs}s"),
        |b| b.pgbench("pgbench-monitors", "list_for_user.sql", &b.user_id.clone()),
    )?;
    let check_now = bench.measure(
        &format!("Check now -> SSE check event, {samples} samples"),
        |b| self::check_now(b, &seeded.monitor_id),
    )?;
    let throughput = bench.measure(
        &format!("Worker throughput: {checks} checks over {worker_monitors} monitors"),
        |b| self::throughput(b, &seeded.worker_user_id, checks),
    )?;
    if !bench.dry_run() {
        let numbers = AreaNumbers {
            monitors,
            pgbench,
            check_now,
            throughput,
        };
        bench.areas.push(area(numbers, checks, samples));
    }
    Ok(())
}

/// The bench user's API_MONITORS monitors, made through the api, and the
/// worker's, written straight into Postgres for a user of their own; none
/// is due for a day, so the scheduler stays out of every measurement.
fn seed(bench: &mut Bench, worker_monitors: u32) -> anyhow::Result<Option<Seeded>> {
    let target = bench.target_url();
    show::progress(&format!(
        "POST {}/api/monitors x {API_MONITORS}, each pointed at {target}",
        bench.api_url()
    ));
    if !bench.dry_run() {
        std::fs::write(bench.dir.join("list_for_user.sql"), LIST_QUERY)?;
        for i in 1..=API_MONITORS {
            let monitor =
                json!({"name": format!("bench {i}"), "url": target, "interval_seconds": 86400});
            bench.post("/api/monitors", &monitor, Some(&bench.token))?;
        }
    }
    psql(
        bench,
        "UPDATE monitors SET next_check_at = now() + interval '1 day'",
    )?;
    psql(
        bench,
        &format!(
            "INSERT INTO users (id, email, password_hash) \
         VALUES (gen_random_uuid(), '{WORKER_EMAIL}', 'none: this user never logs in')"
        ),
    )?;
    psql(
        bench,
        &format!(
            "INSERT INTO monitors (id, user_id, name, url, method, interval_seconds, timeout_ms, \
             expected_status, next_check_at) \
         SELECT gen_random_uuid(), u.id, 'worker bench ' || n, '{target}', 'GET', 86400, 5000, 200, \
             now() + interval '1 day' \
         FROM users u, generate_series(1, {worker_monitors}) n WHERE u.email = '{WORKER_EMAIL}'"
        ),
    )?;
    let worker_user_id = psql(
        bench,
        &format!("SELECT id FROM users WHERE email = '{WORKER_EMAIL}'"),
    )?;
    show::progress(&format!("GET {}/api/monitors", bench.api_url()));
    if bench.dry_run() {
        return Ok(Some(Seeded {
            monitor_id: "<monitor id>".into(),
            worker_user_id: "<user id>".into(),
        }));
    }
    let listed = bench.get("/api/monitors")?;
    let monitors = listed["monitors"].as_array().map_or(&[][..], Vec::as_slice);
    if monitors.len() != API_MONITORS {
        bail!(
            "GET /api/monitors listed {} monitors, not {API_MONITORS}",
            monitors.len()
        );
    }
    Ok(Some(Seeded {
        monitor_id: monitors[0]["id"]
            .as_str()
            .context("a monitor without an id")?
            .to_owned(),
        worker_user_id: worker_user_id.unwrap_or_default().trim().to_owned(),
    }))
}

/// One statement in the bench's database; its output unaligned.
fn psql(bench: &Bench, sql: &str) -> anyhow::Result<Option<String>> {
    let mut psql = command(
        &bench.tools.psql,
        ["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"],
    );
    psql.args(["-d", &bench.database_url, "-c", sql]);
    bench.runner.output(&mut psql)
}

fn check_now(bench: &mut Bench, monitor_id: &str) -> anyhow::Result<Option<Sse>> {
    let mut client = Command::new(bench.bin.join("examples/bench_check_now"));
    client
        .args(["--base-url", &bench.api_url()])
        .args(["--monitor-id", monitor_id])
        .args(["--samples", &bench.settings.sse_samples.to_string()])
        .env("BENCH_TOKEN", &bench.token);
    bench.tool_output(&mut client, "check-now.out", |out| {
        report::parse_sse(out, "bench_check_now")
    })
}

fn throughput(
    bench: &mut Bench,
    worker_user_id: &str,
    checks: u32,
) -> anyhow::Result<Option<WorkerThroughput>> {
    let mut enqueue = Command::new(bench.bin.join("examples/bench_enqueue"));
    enqueue
        .env("DATABASE_URL", &bench.database_url)
        .env(
            "REDIS_URL",
            format!("redis://127.0.0.1:{}", bench.ports.redis),
        )
        .env("NATS_URL", format!("nats://127.0.0.1:{}", bench.ports.nats))
        .env("QUEUE_PREFIX", QUEUE_PREFIX)
        .args(["--user-id", worker_user_id])
        .args(["--checks", &checks.to_string()]);
    bench.tool_output(&mut enqueue, "worker.out", parse_worker_throughput)
}

/// The example's numbers, each missing when it failed.
struct AreaNumbers {
    monitors: Option<Wrk>,
    pgbench: Option<Pgbench>,
    check_now: Option<Sse>,
    throughput: Option<WorkerThroughput>,
}

/// The example's rows and targets.
fn area(numbers: AreaNumbers, checks: u32, samples: u32) -> Area {
    use Op::{AtLeast, AtMost};
    let monitors_vs_pgbench = ratio(
        numbers.monitors.as_ref().map(|w| w.rps),
        numbers.pgbench.as_ref().map(|p| p.tps),
    );
    let check_now = numbers.check_now.as_ref();
    let throughput = numbers.throughput.as_ref();
    let targets = vec![
        Target::new(
            "monitors_vs_pgbench",
            monitors_vs_pgbench,
            "×",
            AtLeast,
            0.6,
        ),
        Target::new(
            "check_now_p50_ms",
            check_now.and_then(|s| s.p50_ms),
            "ms",
            AtMost,
            25.0,
        ),
        Target::new(
            "check_now_p99_ms",
            check_now.and_then(|s| s.p99_ms),
            "ms",
            AtMost,
            100.0,
        ),
        Target::new(
            "worker_checks_per_sec",
            throughput.map(|w| w.checks_per_sec),
            "checks/s",
            AtLeast,
            1000.0,
        ),
    ];
    let throughput_cell = match throughput {
        None => n(None, 0),
        Some(w) => format!(
            "{} ({} once the first was recorded {} ms in)",
            n(Some(w.checks_per_sec), 0),
            n(w.after_first_checks_per_sec, 0),
            n(w.enqueued.first_recorded_ms, 0)
        ),
    };
    let rows = vec![
        Row {
            measurement: format!("`GET /api/monitors`, {API_MONITORS} monitors, bearer token"),
            value: wrk_cell(numbers.monitors.as_ref()),
            baseline: format!(
                "pgbench, the same query, prepared: {}",
                pgbench_cell(numbers.pgbench.as_ref())
            ),
            ratio: n(monitors_vs_pgbench, 2),
            target: "≥ 0.6".into(),
            judges: vec!["monitors_vs_pgbench"],
        },
        Row {
            measurement: format!(
                "check now → SSE `check` event, p50 of {} in a row",
                check_now.map_or(samples as usize, |s| s.samples)
            ),
            value: format!("{} ms", n(check_now.and_then(|s| s.p50_ms), 1)),
            target: "≤ 25 ms".into(),
            judges: vec!["check_now_p50_ms"],
            ..Row::default()
        },
        Row {
            measurement: "check now → SSE `check` event, p99".into(),
            value: format!("{} ms", n(check_now.and_then(|s| s.p99_ms), 1)),
            target: "≤ 100 ms".into(),
            judges: vec!["check_now_p99_ms"],
            ..Row::default()
        },
        Row {
            measurement: format!(
                "worker: checks/s, enqueued → recorded, {checks} checks, one process"
            ),
            value: throughput_cell,
            target: "≥ 1000".into(),
            judges: vec!["worker_checks_per_sec"],
            ..Row::default()
        },
    ];
    let ratios = json!({ "monitors_vs_pgbench": monitors_vs_pgbench });
    Area {
        name: "uptime",
        json: json!({
            "api_monitors": numbers.monitors,
            "api_monitors_count": API_MONITORS,
            "pgbench": numbers.pgbench,
            "check_now": numbers.check_now,
            "worker_throughput": numbers.throughput,
            "ratios": ratios,
        }),
        rows,
        targets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_counts_from_the_first_enqueue_and_from_the_first_row() -> anyhow::Result<()> {
        let printed = r#"{"checks":5000,"monitors":100,"ok":5000,"enqueue_ms":20.5,"first_recorded_ms":250.0,"all_recorded_ms":4250.0}"#;
        let throughput = parse_worker_throughput(printed)?;
        assert_eq!(throughput.checks_per_sec, 5000.0 / 4.25);
        assert_eq!(throughput.after_first_checks_per_sec, Some(4999.0 / 4.0));
        let short = printed.replace("\"ok\":5000", "\"ok\":4999");
        assert!(parse_worker_throughput(&short).is_err());
        Ok(())
    }

    #[test]
    fn the_examples_rows_judge_its_targets() {
        let numbers = AreaNumbers {
            monitors: Some(Wrk {
                rps: 5798.0,
                p50_ms: 10.79,
                p99_ms: 18.0,
                requests: 1,
                socket_errors: 0,
            }),
            pgbench: Some(Pgbench {
                tps: 14309.0,
                latency_avg_ms: 4.47,
            }),
            check_now: None,
            throughput: Some(WorkerThroughput {
                enqueued: Enqueued {
                    checks: 5000,
                    monitors: 100,
                    ok: 5000,
                    enqueue_ms: 30.0,
                    first_recorded_ms: Some(274.0),
                    all_recorded_ms: 4248.0,
                },
                checks_per_sec: 1177.0,
                after_first_checks_per_sec: Some(1258.0),
            }),
        };
        let area = area(numbers, 5000, 200);
        let met: Vec<Option<bool>> = area.targets.iter().map(|t| t.met).collect();
        assert_eq!(met, [Some(false), None, None, Some(true)]);
        assert_eq!(area.rows[0].ratio, "0.41");
        assert_eq!(
            area.rows[3].value,
            "1177 (1258 once the first was recorded 274 ms in)"
        );
        assert_eq!(area.json["worker_throughput"]["checks"], 5000);
        assert_eq!(area.json["check_now"], serde_json::Value::Null);
    }
}
