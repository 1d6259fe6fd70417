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
