//! The welcome job: queued at sign-up, run by the worker. This is where a
//! product sends its welcome email; the skeleton marks the account welcomed
//! and tells the user's open tabs (an `account` event). The smallest real
//! job: data, an id, an idempotent handler, and a live event.

use platform::{
    app::App,
    jobs::{Handler, JobError},
    queue::Job,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ACCOUNT_EVENT, users};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeUser {
    pub user_id: Uuid,
}

impl Job for WelcomeUser {
    const QUEUE: &'static str = "welcome";

    /// One welcome per account: pushing it twice stores it once.
    fn id(&self) -> String {
        format!("welcome-{}", self.user_id)
    }
}

/// Runs [`WelcomeUser`] jobs.
pub struct Welcomes {
    app: App,
}

impl Welcomes {
    pub fn new(app: &App) -> Self {
        Self { app: app.clone() }
    }
}

impl Handler for Welcomes {
    type Job = WelcomeUser;

    async fn handle(&self, job: WelcomeUser) -> Result<(), JobError> {
        // Marking first makes a redelivered job a no-op; a product that sends
        // mail would send here, after marking, and accept at-most-once mail
        // (or record the provider's message id instead).
        if let Some(user) = users::mark_welcomed(&self.app.db, job.user_id).await? {
            tracing::info!(user_id = %job.user_id, "account welcomed");
            platform::live::publish(&self.app.nats, user.id, ACCOUNT_EVENT, &user).await;
        } else {
            tracing::info!(user_id = %job.user_id, "already welcomed (or gone); nothing to do");
        }
        Ok(())
    }
}
