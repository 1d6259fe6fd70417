//! The scheduler: every tick, claim the monitors that are due and queue a
//! check for each. Every worker process runs it; the claim in Postgres
//! (`FOR UPDATE SKIP LOCKED`, `next_check_at` moved on in the same
//! statement) makes sure each due monitor is queued once per interval
//! however many run.

use std::time::Duration;

use platform::{
    connections::Services,
    jobs::{Periodic, Queue},
};

use crate::{checks::CheckMonitor, model::CheckTrigger, monitors};

pub struct Scheduler {
    pub services: Services,
    pub checks: Queue<CheckMonitor>,
    /// How often due monitors are claimed.
    pub tick: Duration,
    /// Monitors claimed per statement.
    pub batch: i64,
}

impl Scheduler {
    /// One claim, queued in the same transaction: if queueing fails the claim
    /// rolls back and the monitors stay due for the next tick. How many.
    pub async fn claim_and_enqueue(&self) -> anyhow::Result<usize> {
        let mut tx = self.services.db.begin().await?;
        let due = monitors::db::claim_due(&mut *tx, self.batch).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let jobs: Vec<CheckMonitor> = due
            .iter()
            .map(|id| CheckMonitor::new(*id, CheckTrigger::Schedule))
            .collect();
        self.checks.push_all(jobs).await?;
        tx.commit().await?;
        metrics::counter!("beacon_scheduled_checks_total").increment(due.len() as u64);
        Ok(due.len())
    }
}

impl Periodic for Scheduler {
    const NAME: &'static str = "scheduler";

    fn period(&self) -> Duration {
        self.tick
    }

    async fn tick(&self) {
        // A full batch means more are due: go again at once.
        loop {
            match self.claim_and_enqueue().await {
                Ok(n) if i64::try_from(n).is_ok_and(|n| n == self.batch) => continue,
                Ok(0) => break,
                Ok(n) => {
                    tracing::debug!(queued = n, "scheduled checks queued");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "scheduler tick failed; retrying next tick");
                    break;
                }
            }
        }
    }
}
