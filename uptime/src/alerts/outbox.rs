//! The alert outbox sweep: an alert is written with the check that caused
//! it and queued after that transaction commits. If queueing failed (Redis
//! was down) or the job was lost, the alert waits in `pending`; this task
//! queues those again, so every alert is eventually tried.

use std::time::Duration;

use chrono::Utc;
use platform::{app::App, jobs::Periodic, queue::Queue};

use super::{db, send::SendAlert};

/// An alert pending longer than this since it was queued is queued again
/// (the job's own retries take far less).
const STALE_AFTER: Duration = Duration::from_secs(120);
const BATCH: i64 = 100;

pub struct AlertOutbox {
    pub app: App,
    pub alerts: Queue<SendAlert>,
    pub tick: Duration,
}

impl AlertOutbox {
    /// One sweep; how many alerts it queued again.
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        let before = Utc::now() - chrono::Duration::from_std(STALE_AFTER)?;
        let mut tx = self.app.db.begin().await?;
        let stale = db::claim_stale(&mut *tx, before, BATCH).await?;
        let jobs: Vec<SendAlert> = stale
            .iter()
            .map(|&alert_id| SendAlert { alert_id })
            .collect();
        // Queued before the claim commits: if queueing fails, they stay stale.
        self.alerts.push_all(jobs).await?;
        tx.commit().await?;
        Ok(stale.len())
    }
}

impl Periodic for AlertOutbox {
    const NAME: &'static str = "alert outbox";
    const DONE: &'static str = "pending alerts queued again";

    fn period(&self) -> Duration {
        self.tick
    }

    async fn tick(&self) -> anyhow::Result<u64> {
        Ok(self.sweep().await? as u64)
    }
}
