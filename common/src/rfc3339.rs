//! RFC 3339 timestamps in UTC with microseconds (Postgres' precision),
//! `2026-11-22T08:11:47.255351Z`, written digit by digit.
//!
//! Used where timestamps are written in bulk: every log line, and API lists
//! (20 monitors carry 80 timestamps). chrono's own formatting goes through
//! `core::fmt` with its format-item machinery, several times slower.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// The length of every timestamp this module writes.
const LEN: usize = 27;

/// `at` since the Unix epoch, or `None` before 1970 or after 9999, which the
/// fixed-width fast path does not cover.
fn format(since_epoch: Duration) -> Option<[u8; LEN]> {
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    if year > 9999 {
        return None;
    }
    let second_of_day = secs % 86_400;
    let fields = [
        (year, 4),
        (month, 2),
        (day, 2),
        (second_of_day / 3600, 2),
        (second_of_day / 60 % 60, 2),
        (second_of_day % 60, 2),
        (u64::from(since_epoch.subsec_micros()), 6),
    ];
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let ends = [4, 7, 10, 13, 16, 19, 26];
    for ((mut value, width), end) in fields.into_iter().zip(ends) {
        for slot in out[end - width..end].iter_mut().rev() {
            // `value % 10` is a single digit: the cast cannot truncate.
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    Some(out)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, for days ≥ 0).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn as_str(bytes: &[u8; LEN]) -> &str {
    // Only ASCII digits and separators are ever written.
    std::str::from_utf8(bytes).unwrap_or("")
}

/// Writes `now` (a log line's time).
pub fn write_system_time(w: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    match format(since_epoch) {
        Some(bytes) => w.write_str(as_str(&bytes)),
        None => write!(w, "{}", chrono_format(&DateTime::<Utc>::from(now))),
    }
}

fn chrono_format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn since_epoch(at: &DateTime<Utc>) -> Option<Duration> {
    let secs = u64::try_from(at.timestamp()).ok()?;
    Some(Duration::new(secs, at.timestamp_subsec_micros() * 1000))
}

/// `#[serde(serialize_with = "common::rfc3339::serialize")]`
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    match since_epoch(at).and_then(format) {
        Some(bytes) => serializer.serialize_str(as_str(&bytes)),
        None => serializer.serialize_str(&chrono_format(at)),
    }
}

/// `#[serde(serialize_with = "common::rfc3339::serialize_option")]`
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

    #[derive(serde::Serialize)]
    struct Stamped {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "serialize_option")]
        maybe: Option<DateTime<Utc>>,
    }

    fn at(secs: i64, micros: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, micros * 1000).expect("in range")
    }

    #[test]
    fn matches_chrono_across_leap_years_and_boundaries() {
        let samples = [
            0_i64,
            951_782_400,     // 2000-02-29, a leap day in a century year
            1_709_164_799,   // 2024-02-28 23:59:59
            1_735_689_599,   // 2024-12-31 23:59:59
            4_107_542_400,   // 2100-03-01, after a non-leap century
            253_402_300_799, // 9999-12-31 23:59:59
        ];
        for secs in samples {
            for micros in [0_u32, 7, 999_999] {
                let expected = chrono_format(&at(secs, micros));
                let stamped = Stamped {
                    at: at(secs, micros),
                    maybe: None,
                };
                let json = serde_json::to_value(&stamped).expect("serialize");
                assert_eq!(json["at"], expected.as_str());
                let mut written = String::new();
                let system = UNIX_EPOCH
                    + Duration::new(u64::try_from(secs).expect("after 1970"), micros * 1000);
                write_system_time(&mut written, system).expect("write");
                assert_eq!(written, expected);
            }
        }
    }

    #[test]
    fn times_outside_the_fast_path_still_serialize() {
        for instant in [at(-1, 5), at(253_402_300_800, 0)] {
            let stamped = Stamped {
                at: instant,
                maybe: Some(instant),
            };
            let json = serde_json::to_value(&stamped).expect("serialize");
            assert_eq!(json["at"], chrono_format(&instant).as_str());
            assert_eq!(json["maybe"], json["at"]);
        }
        let none = serde_json::to_value(Stamped {
            at: at(0, 0),
            maybe: None,
        })
        .expect("serialize");
        assert!(none["maybe"].is_null());
    }
}
