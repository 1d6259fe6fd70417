//! Retention: checks older than `CHECK_RETENTION_DAYS` are deleted in small
//! batches.

use std::time::Duration;

use chrono::Utc;
use platform::{connections::Services, jobs::Periodic};

use crate::checks;

pub const BATCH: i64 = 1_000;

pub struct Retention {
    pub services: Services,
    /// Checks older than this are deleted.
    pub keep: Duration,
    pub tick: Duration,
}

impl Retention {
    /// Deletes every check older than `keep`, a batch at a time; how many.
    pub async fn prune(&self) -> sqlx::Result<u64> {
        let before = Utc::now()
            - chrono::Duration::from_std(self.keep).unwrap_or(chrono::Duration::days(30));
        let mut total = 0;
        loop {
            let deleted = checks::db::prune_batch(&self.services.db, before, BATCH).await?;
            total += deleted;
            if deleted < BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

impl Periodic for Retention {
    const NAME: &'static str = "retention";

    fn period(&self) -> Duration {
        self.tick
    }

    async fn tick(&self) {
        match self.prune().await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("beacon_pruned_checks_total").increment(n);
                tracing::info!(deleted = n, "old checks pruned");
            }
            Err(e) => tracing::warn!(error = %e, "pruning checks failed; retrying next tick"),
        }
    }
}
