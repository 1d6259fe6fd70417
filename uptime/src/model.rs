//! The example's typed values. Each is stored as text (the migrations'
//! CHECK constraints list the same words) and travels as that text in JSON,
//! so Rust, Postgres and the dashboard agree on one spelling.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The traffic light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum MonitorState {
    /// Green: the last checks succeeded in time.
    Up,
    /// Yellow: slow, or failing intermittently.
    Degraded,
    /// Red: consecutive failures.
    Down,
    /// Grey: not checked yet, or its target just changed.
    Unknown,
}

/// How a monitor asks its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "UPPERCASE")]
#[sqlx(type_name = "text", rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Head,
    Post,
}

impl HttpMethod {
    pub const ALL: [Self; 3] = [Self::Get, Self::Head, Self::Post];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Case-insensitive: `head` is `HEAD`.
impl FromStr for HttpMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|method| method.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|m| m.as_str()).collect();
                format!("must be one of {}", names.join(", "))
            })
    }
}

/// Why a check ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CheckTrigger {
    /// Due by the monitor's interval.
    Schedule,
    /// A user pressed "check now".
    Manual,
}

/// What an alert tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AlertKind {
    /// The light turned red.
    Down,
    /// It left red: a check succeeded again.
    Recovered,
}

/// Where an alert is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AlertStatus {
    /// Queued, or being retried.
    Pending,
    /// The webhook answered 2xx.
    Sent,
    /// Given up: refused, answered 4xx, or out of attempts.
    Failed,
}

/// The body a webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Beacon's own JSON: the event, the monitor and the check.
    Json,
    /// `{"text": "…"}`, as Slack's incoming webhooks expect.
    Slack,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_whatever_their_case_and_refuse_others() {
        assert_eq!("head".parse(), Ok(HttpMethod::Head));
        assert_eq!(" Post ".parse(), Ok(HttpMethod::Post));
        assert_eq!(
            "DELETE".parse::<HttpMethod>(),
            Err("must be one of GET, HEAD, POST".to_owned())
        );
    }

    #[test]
    fn values_travel_as_the_words_the_database_stores() {
        let json = serde_json::to_string(&(
            MonitorState::Degraded,
            HttpMethod::Head,
            CheckTrigger::Manual,
        ))
        .expect("json");
        assert_eq!(json, r#"["degraded","HEAD","manual"]"#);
    }
}
