//! One timestamp format everywhere, in API bodies, events and log lines:
//! RFC 3339 in UTC with microseconds, Postgres' precision
//! (`2026-11-22T08:11:47.255351Z`). chrono's own serialisation trims
//! trailing zeros, so the same instant would read differently by source.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `#[serde(serialize_with = "platform::time::serialize")]`
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(at))
}

/// `#[serde(serialize_with = "platform::time::serialize_option")]`
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timestamp_has_six_fraction_digits() {
        let whole = DateTime::from_timestamp(1_700_000_000, 0).expect("in range");
        let millis = DateTime::from_timestamp(1_700_000_000, 255_000_000).expect("in range");
        assert_eq!(rfc3339(&whole), "2023-11-14T22:13:20.000000Z");
        assert_eq!(rfc3339(&millis), "2023-11-14T22:13:20.255000Z");
    }
}
