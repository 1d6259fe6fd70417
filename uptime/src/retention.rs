//! Retention: checks older than `CHECK_RETENTION_DAYS` are deleted in small
//! batches.

use std::time::Duration;

use chrono::Utc;
use platform::{app::App, jobs::Periodic};

use crate::checks;

pub const BATCH: i64 = 1_000;

pub struct Retention {
    pub app: App,
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
            let deleted = checks::db::prune_batch(&self.app.db, before, BATCH).await?;
            total += deleted;
            if deleted < BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}

impl Periodic for Retention {
    const NAME: &'static str = "retention";
    const DONE: &'static str = "old checks deleted";

    fn period(&self) -> Duration {
        self.tick
    }

    async fn tick(&self) -> anyhow::Result<u64> {
        Ok(self.prune().await?)
    }
}
