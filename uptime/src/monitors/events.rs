//! A monitor's live events, as the dashboard receives them: `check` (a
//! check landed, published by the worker), `monitor` (created or changed)
//! and `monitor_deleted` (published by the api). Each goes to its user's
//! streams on every API machine ([`platform::live`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Monitor;
use crate::model::MonitorState;

/// A check result, as recorded in Postgres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckRecorded {
    pub check_id: Uuid,
    pub monitor_id: Uuid,
    pub user_id: Uuid,
    /// The light after this check.
    pub state: MonitorState,
    pub ok: bool,
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    #[serde(serialize_with = "platform::time::serialize")]
    pub checked_at: DateTime<Utc>,
}

pub async fn check_recorded(nats: &async_nats::Client, check: &CheckRecorded) {
    platform::live::publish(nats, check.user_id, "check", check).await;
}

/// Tells the user's other tabs, on every API machine, about the change.
pub async fn monitor_changed(nats: &async_nats::Client, user_id: Uuid, monitor: &Monitor) {
    #[derive(Serialize)]
    struct Changed<'a> {
        monitor: &'a Monitor,
    }
    platform::live::publish(nats, user_id, "monitor", &Changed { monitor }).await;
}

pub async fn monitor_deleted(nats: &async_nats::Client, user_id: Uuid, monitor_id: Uuid) {
    #[derive(Serialize)]
    struct Deleted {
        monitor_id: Uuid,
    }
    platform::live::publish(nats, user_id, "monitor_deleted", &Deleted { monitor_id }).await;
}
