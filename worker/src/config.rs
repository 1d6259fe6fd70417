//! The worker's settings. Every variable, its default and its bounds are
//! listed here and in the README's configuration table.

use std::time::Duration;

use common::config::{AppEnv, CommonConfig, ConfigError, Env};

use crate::light::Thresholds;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub common: CommonConfig,
    /// `/health`, `/ready` and `/metrics` on `[::]` (`WORKER_PORT`, default 9092).
    pub port: u16,
    pub check_queue: String,
    /// Checks run at once by this process.
    pub concurrency: usize,
    /// How often an idle worker asks Redis for work: the floor on pick-up
    /// latency, and on a per-command-billed Redis the main cost.
    pub poll_interval: Duration,
    /// Liveness beat to Redis; a worker silent for
    /// `heartbeat_interval × missed_heartbeats` is dead and its in-flight
    /// checks go back on the queue.
    pub heartbeat_interval: Duration,
    pub missed_heartbeats: usize,
    /// How often the scheduler claims due monitors.
    pub scheduler_tick: Duration,
    pub scheduler_batch: i64,
    /// Checks older than this are pruned.
    pub check_retention: Duration,
    pub retention_tick: Duration,
    /// Attempts for a check whose recording fails (Postgres down); then it
    /// is aborted, not rescheduled forever.
    pub max_attempts: usize,
    pub retry_base_delay: Duration,
    /// Quick failures of the check worker in a row (Redis gone) before the
    /// process gives up and exits 1, for Fly's restart policy to take over.
    pub max_quick_restarts: u32,
    /// After SIGTERM, how long in-flight checks get to finish.
    pub shutdown_timeout: Duration,
    pub thresholds: Thresholds,
    pub max_redirects: usize,
    /// Lets checks reach private addresses. Development and tests only.
    pub allow_private_targets: bool,
    pub readiness_timeout: Duration,
}

impl WorkerConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let allow_private_targets = env.or("ALLOW_PRIVATE_TARGETS", false)?;
        if allow_private_targets && common.app_env == AppEnv::Production {
            return Err(ConfigError::new(
                "ALLOW_PRIVATE_TARGETS",
                "is true with APP_ENV=production: private targets expose the private network; unset it",
            ));
        }
        let thresholds = Thresholds {
            slow_ms: to_i32(env.bounded("SLOW_THRESHOLD_MS", 2_000, 1, 60_000)?),
            down_after_failures: to_i32(env.bounded("DOWN_AFTER_FAILURES", 2, 1, 100)?),
            recent_window: 5,
        };
        Ok(Self {
            port: env.port("WORKER_PORT", 9092)?,
            check_queue: env
                .get("CHECK_QUEUE")
                .unwrap_or_else(|| common::jobs::CHECK_QUEUE.to_owned()),
            concurrency: to_usize(env.bounded("WORKER_CONCURRENCY", 32, 1, 1024)?),
            poll_interval: env.millis("POLL_INTERVAL_MS", 1_000, 10, 60_000)?,
            heartbeat_interval: env.seconds("HEARTBEAT_INTERVAL_SECS", 5, 1, 300)?,
            missed_heartbeats: to_usize(env.bounded("MISSED_HEARTBEATS", 6, 2, 100)?),
            scheduler_tick: env.millis("SCHEDULER_TICK_MS", 2_000, 100, 60_000)?,
            scheduler_batch: i64::try_from(env.bounded("SCHEDULER_BATCH", 500, 1, 10_000)?)
                .unwrap_or(500),
            check_retention: env
                .seconds("CHECK_RETENTION_DAYS", 30, 1, 3650)?
                .saturating_mul(86_400),
            retention_tick: env.seconds("RETENTION_TICK_SECS", 600, 1, 86_400)?,
            max_attempts: to_usize(env.bounded("CHECK_MAX_ATTEMPTS", 5, 1, 25)?),
            retry_base_delay: env.millis("RETRY_BASE_DELAY_MS", 500, 10, 60_000)?,
            max_quick_restarts: u32::try_from(env.bounded("WORKER_MAX_RESTARTS", 20, 0, 10_000)?)
                .unwrap_or(20),
            shutdown_timeout: env.seconds("SHUTDOWN_TIMEOUT_SECS", 20, 0, 600)?,
            thresholds,
            max_redirects: to_usize(env.bounded("PROBE_MAX_REDIRECTS", 5, 0, 20)?),
            allow_private_targets,
            readiness_timeout: env.millis("READINESS_TIMEOUT_MS", 1000, 50, 30_000)?,
            common,
        })
    }

    /// How long a SIGKILLed worker's checks wait before another takes them.
    pub fn orphan_timeout(&self) -> Duration {
        self.heartbeat_interval * u32::try_from(self.missed_heartbeats).unwrap_or(u32::MAX)
    }
}

// Values are bounded above, so these conversions cannot fail.
fn to_i32(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_port_and_queue() {
        let config = WorkerConfig::from_env(&Env::from_pairs(&[])).expect("defaults");
        assert_eq!(config.port, 9092);
        assert_eq!(config.check_queue, common::jobs::CHECK_QUEUE);
        assert_eq!(config.orphan_timeout(), Duration::from_secs(30));
        assert!(
            config.shutdown_timeout < config.orphan_timeout(),
            "a draining worker is not taken for dead"
        );
        assert!(!config.allow_private_targets);
    }

    #[test]
    fn private_targets_are_refused_in_production() {
        let err = WorkerConfig::from_env(&Env::from_pairs(&[
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://db/beacon"),
            ("REDIS_URL", "redis://cache"),
            ("NATS_URL", "nats://bus"),
            ("ALLOW_PRIVATE_TARGETS", "true"),
        ]))
        .expect_err("refused");
        assert_eq!(err.var, "ALLOW_PRIVATE_TARGETS");
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value) in [
            ("WORKER_PORT", "http"),
            ("WORKER_CONCURRENCY", "0"),
            ("ALLOW_PRIVATE_TARGETS", "yes please"),
            ("POLL_INTERVAL_MS", "5"),
        ] {
            let pairs = [(var, value)];
            let err = WorkerConfig::from_env(&Env::from_pairs(&pairs)).expect_err("refused");
            assert_eq!(err.var, var);
        }
    }
}
