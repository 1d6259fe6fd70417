//! The scheduler: every tick, claim the monitors that are due and queue a
//! check for each. Every worker process runs it; the claim in Postgres
//! (`FOR UPDATE SKIP LOCKED`, `next_check_at` moved on in the same
//! statement) makes sure each due monitor is queued once per interval
//! however many run.

use std::time::Duration;

use platform::{app::App, jobs::Periodic, queue::Queue};

use crate::{checks::CheckMonitor, model::CheckTrigger, monitors};

pub struct Scheduler {
    pub app: App,
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
        let mut tx = self.app.db.begin().await?;
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
        Ok(due.len())
    }
}

impl Periodic for Scheduler {
    const NAME: &'static str = "scheduler";
    const DONE: &'static str = "scheduled checks queued";

    fn period(&self) -> Duration {
        self.tick
    }

    async fn tick(&self) -> anyhow::Result<u64> {
        let mut queued = 0;
        // A full batch means more are due: go again at once.
        loop {
            let claimed = self.claim_and_enqueue().await?;
            queued += claimed as u64;
            if i64::try_from(claimed).map_or(true, |n| n < self.batch) {
                return Ok(queued);
            }
        }
    }
}
