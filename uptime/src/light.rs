//! The traffic light: how a check result changes a monitor's state.
//!
//! - **green (`up`)**: the check got the expected status within the slow
//!   threshold, and none of the recent checks failed;
//! - **yellow (`degraded`)**: the check succeeded but slowly, or it
//!   succeeded while some of the recent checks failed (flapping), or it failed
//!   but not yet `DOWN_AFTER_FAILURES` times in a row;
//! - **red (`down`)**: `DOWN_AFTER_FAILURES` consecutive failed checks;
//! - **grey (`unknown`)**: never checked (or its URL just changed).

use crate::model::MonitorState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A successful check slower than this is yellow.
    pub slow_ms: i32,
    /// This many failures in a row make it red.
    pub down_after_failures: i32,
    /// How many earlier checks count as "recent" for flapping.
    pub recent_window: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            slow_ms: 2_000,
            down_after_failures: 2,
            recent_window: 5,
        }
    }
}

/// What one check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckVerdict {
    pub ok: bool,
    pub latency_ms: i32,
}

/// The new state and consecutive-failure count, from the verdict, the count
/// before it, and how many of the recent earlier checks failed.
pub fn next_state(
    verdict: CheckVerdict,
    failures_before: i32,
    recent_failures: i64,
    thresholds: Thresholds,
) -> (MonitorState, i32) {
    if verdict.ok {
        let state = if verdict.latency_ms > thresholds.slow_ms || recent_failures > 0 {
            MonitorState::Degraded
        } else {
            MonitorState::Up
        };
        (state, 0)
    } else {
        let failures = failures_before.saturating_add(1);
        let state = if failures >= thresholds.down_after_failures {
            MonitorState::Down
        } else {
            MonitorState::Degraded
        };
        (state, failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        slow_ms: 1000,
        down_after_failures: 2,
        recent_window: 5,
    };

    fn ok(latency_ms: i32) -> CheckVerdict {
        CheckVerdict {
            ok: true,
            latency_ms,
        }
    }

    const FAILED: CheckVerdict = CheckVerdict {
        ok: false,
        latency_ms: 10,
    };

    #[test]
    fn a_fast_success_with_a_clean_history_is_green() {
        assert_eq!(next_state(ok(100), 0, 0, T), (MonitorState::Up, 0));
    }

    #[test]
    fn a_slow_success_is_yellow() {
        assert_eq!(next_state(ok(1001), 0, 0, T), (MonitorState::Degraded, 0));
    }

    #[test]
    fn a_success_among_recent_failures_is_yellow() {
        assert_eq!(next_state(ok(100), 3, 1, T), (MonitorState::Degraded, 0));
    }

    #[test]
    fn one_failure_is_yellow_and_consecutive_failures_are_red() {
        assert_eq!(next_state(FAILED, 0, 0, T), (MonitorState::Degraded, 1));
        assert_eq!(next_state(FAILED, 1, 1, T), (MonitorState::Down, 2));
        assert_eq!(next_state(FAILED, 7, 5, T), (MonitorState::Down, 8));
    }

    #[test]
    fn the_failure_count_never_overflows() {
        assert_eq!(
            next_state(FAILED, i32::MAX, 5, T),
            (MonitorState::Down, i32::MAX)
        );
    }
}
