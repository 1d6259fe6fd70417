//! Retention: checks older than `CHECK_RETENTION_DAYS` are deleted in small
//! batches, and finished tasks are cleared out of Redis.

use std::time::Duration;

use apalis_redis::ConnectionManager;
use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::ticker::Ticker;

use crate::{queue, store};

pub const BATCH: i64 = 1_000;

/// Deletes every check older than `retention`, a batch at a time; how many.
pub async fn prune_checks(db: &PgPool, retention: Duration) -> sqlx::Result<u64> {
    let before =
        Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
    let mut total = 0;
    loop {
        let deleted = store::prune_checks_batch(db, before, BATCH).await?;
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
    }
}

pub async fn run(
    db: PgPool,
    redis: ConnectionManager,
    queue_name: String,
    retention: Duration,
    tick: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut ticker = Ticker::new(tick, stop);
    while ticker.next().await {
        match prune_checks(&db, retention).await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("beacon_pruned_checks_total").increment(n);
                tracing::info!(deleted = n, "old checks pruned");
            }
            Err(e) => tracing::warn!(error = %e, "pruning checks failed; retrying next tick"),
        }
        loop {
            match queue::prune_finished_tasks(&redis, &queue_name, 1_000).await {
                Ok(1_000) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "pruning finished tasks failed");
                    break;
                }
            }
        }
    }
}
