//! Events the worker publishes on NATS and every API machine forwards to the
//! owner's browsers over SSE.
//!
//! Subjects are per user (`beacon.events.<user_id>`), so an API machine can
//! subscribe to everything (`beacon.events.>`) and route by subject, and a user
//! can never be sent another user's event by a routing mistake in the payload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const SUBJECT_PREFIX: &str = "beacon.events";

pub fn user_subject(user_id: Uuid) -> String {
    format!("{SUBJECT_PREFIX}.{user_id}")
}

/// `beacon.events.>`: what an API machine subscribes to.
pub fn all_users_subject() -> String {
    format!("{SUBJECT_PREFIX}.>")
}

/// The traffic light. Stored as text in `monitors.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    /// Green: the last checks succeeded in time.
    Up,
    /// Yellow: slow, or failing intermittently.
    Degraded,
    /// Red: consecutive failures.
    Down,
    /// Grey: not checked yet.
    Unknown,
}

impl MonitorState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "up" => Some(Self::Up),
            "degraded" => Some(Self::Degraded),
            "down" => Some(Self::Down),
            "unknown" => Some(Self::Unknown),
            _ => None,
        }
    }
}

/// Everything published on a user's subject. The variant names are the SSE
/// event names the browser listens for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserEvent {
    /// A check landed (published by the worker).
    Check(CheckRecorded),
    /// A monitor was created or changed (published by the api).
    Monitor { monitor: serde_json::Value },
    /// A monitor was deleted (published by the api).
    MonitorDeleted { monitor_id: Uuid },
}

impl UserEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Check(_) => "check",
            Self::Monitor { .. } => "monitor",
            Self::MonitorDeleted { .. } => "monitor_deleted",
        }
    }

    /// The SSE `data:` payload: the event without its `type` tag.
    pub fn data(&self) -> serde_json::Result<String> {
        match self {
            Self::Check(check) => serde_json::to_string(check),
            Self::Monitor { monitor } => {
                serde_json::to_string(&serde_json::json!({ "monitor": monitor }))
            }
            Self::MonitorDeleted { monitor_id } => {
                serde_json::to_string(&serde_json::json!({ "monitor_id": monitor_id }))
            }
        }
    }
}

/// Publishes on the user's subject. At-most-once, like all of core NATS:
/// a browser that misses an event re-syncs from Postgres when its stream
/// reconnects, so a failure is logged and not retried.
pub async fn publish(nats: &async_nats::Client, user_id: Uuid, event: &UserEvent) {
    match serde_json::to_vec(event) {
        Ok(payload) => {
            if let Err(e) = nats.publish(user_subject(user_id), payload.into()).await {
                tracing::warn!(error = %e, event = event.name(), "could not publish event");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not encode event"),
    }
}

/// The user a subject belongs to: `beacon.events.<user_id>`.
pub fn user_of_subject(subject: &str) -> Option<Uuid> {
    subject
        .strip_prefix(SUBJECT_PREFIX)?
        .strip_prefix('.')?
        .parse()
        .ok()
}

/// A check result, as recorded in Postgres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecorded {
    pub check_id: Uuid,
    pub monitor_id: Uuid,
    pub user_id: Uuid,
    pub state: MonitorState,
    pub ok: bool,
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    pub checked_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_subjects_fall_under_the_wildcard() {
        let id = Uuid::nil();
        assert_eq!(user_subject(id), format!("beacon.events.{id}"));
        assert!(all_users_subject().ends_with(".>"));
    }

    #[test]
    fn subjects_name_their_user() {
        let id = Uuid::now_v7();
        assert_eq!(user_of_subject(&user_subject(id)), Some(id));
        assert_eq!(user_of_subject("beacon.events.not-a-uuid"), None);
        assert_eq!(user_of_subject("other.events"), None);
    }

    #[test]
    fn events_carry_their_sse_name_and_untagged_data() {
        let id = Uuid::nil();
        let event = UserEvent::MonitorDeleted { monitor_id: id };
        assert_eq!(event.name(), "monitor_deleted");
        assert_eq!(
            event.data().expect("json"),
            format!(r#"{{"monitor_id":"{id}"}}"#)
        );
        let wire = serde_json::to_string(&event).expect("json");
        assert!(wire.contains(r#""type":"monitor_deleted""#));
        assert_eq!(
            serde_json::from_str::<UserEvent>(&wire).expect("round trip"),
            event
        );
    }

    #[test]
    fn states_round_trip_through_their_text() {
        for state in [
            MonitorState::Up,
            MonitorState::Degraded,
            MonitorState::Down,
            MonitorState::Unknown,
        ] {
            assert_eq!(MonitorState::parse(state.as_str()), Some(state));
        }
    }
}
