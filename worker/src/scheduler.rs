//! The scheduler: every tick, claim the monitors that are due and queue a
//! check for each. Every worker process runs it; the claim in Postgres
//! (`FOR UPDATE SKIP LOCKED`, next_check_at moved on in the same statement)
//! makes sure each due monitor is queued once per interval however many run.

use std::time::Duration;

use apalis_redis::RedisStorage;
use common::jobs::{CheckMonitor, CheckTrigger};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::ticker::Ticker;

use crate::store;

/// One tick: claim and queue, in one transaction. If queueing fails the
/// claim rolls back and the monitors stay due for the next tick.
pub async fn claim_and_enqueue(
    db: &PgPool,
    storage: &mut RedisStorage<CheckMonitor>,
    batch: i64,
) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let due = store::claim_due_monitors(&mut *tx, batch).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let jobs: Vec<CheckMonitor> = due
        .iter()
        .map(|id| CheckMonitor::new(*id, CheckTrigger::Schedule))
        .collect();
    common::jobs::enqueue(storage, jobs)
        .await
        .map_err(|e| anyhow::anyhow!("queueing scheduled checks failed: {e}"))?;
    tx.commit().await?;
    metrics::counter!("beacon_scheduled_checks_total").increment(due.len() as u64);
    Ok(due.len())
}

pub async fn run(
    db: PgPool,
    mut storage: RedisStorage<CheckMonitor>,
    nats: async_nats::Client,
    queue: String,
    tick: Duration,
    batch: i64,
    stop: watch::Receiver<bool>,
) {
    let mut ticker = Ticker::new(tick, stop);
    while ticker.next().await {
        // A full batch means more are due: go again at once.
        loop {
            match claim_and_enqueue(&db, &mut storage, batch).await {
                Ok(n) if n as i64 == batch => {
                    common::jobs::wake_workers(&nats, &queue).await;
                    continue;
                }
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(queued = n, "scheduled checks queued");
                        common::jobs::wake_workers(&nats, &queue).await;
                    }
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
