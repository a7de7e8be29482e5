//! The notification retry schedule: a pure function of the attempt number and the clock.
//!
//! After failed attempt k (1-based) of `max_attempts`: if k is the last, the row is dead (with
//! `retry_count` k and no next attempt); otherwise `retry_count = k` and the next attempt is due at
//! `now + min(2^(k-1) × base, cap)`. With the defaults (5 attempts, 1 min base, 1 h cap) the waits
//! are 1, 2, 4 and 8 minutes.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_secs(60),
            cap: Duration::from_secs(3600),
        }
    }
}

/// What happens to a row after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    Retry {
        retry_count: i32,
        next_retry_at: DateTime<Utc>,
    },
    Dead {
        retry_count: i32,
    },
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): `min(2^(attempt-1) × base, cap)`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).unwrap_or(self.cap).min(self.cap)
    }

    pub fn after_failure(&self, attempt: u32, now: DateTime<Utc>) -> AfterFailure {
        let retry_count = i32::try_from(attempt).unwrap_or(i32::MAX);
        if attempt >= self.max_attempts {
            return AfterFailure::Dead { retry_count };
        }
        let wait = chrono::Duration::from_std(self.backoff(attempt)).unwrap_or(chrono::Duration::MAX);
        AfterFailure::Retry {
            retry_count,
            next_retry_at: now + wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn the_seed_schedule_is_1_2_4_8_minutes_then_dead() {
        let p = RetryPolicy::default();
        let now = at(0);
        let expect = [(1, 60), (2, 120), (3, 240), (4, 480)];
        for (k, wait) in expect {
            assert_eq!(
                p.after_failure(k, now),
                AfterFailure::Retry {
                    retry_count: k as i32,
                    next_retry_at: at(wait)
                }
            );
        }
        assert_eq!(p.after_failure(5, now), AfterFailure::Dead { retry_count: 5 });
        // Past the budget (a requeued row's count restarts at 0, so this only guards the edge).
        assert_eq!(p.after_failure(6, now), AfterFailure::Dead { retry_count: 6 });
    }

    #[test]
    fn the_cap_bounds_every_wait() {
        let p = RetryPolicy {
            max_attempts: 20,
            base: Duration::from_secs(60),
            cap: Duration::from_secs(3600),
        };
        assert_eq!(p.backoff(6), Duration::from_secs(1920));
        assert_eq!(p.backoff(7), Duration::from_secs(3600));
        assert_eq!(p.backoff(19), Duration::from_secs(3600));
        assert_eq!(p.backoff(40), Duration::from_secs(3600));
    }

    #[test]
    fn a_first_attempt_failure_is_scheduled_like_any_other() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        };
        let now = at(0);
        match p.after_failure(1, now) {
            AfterFailure::Retry {
                retry_count,
                next_retry_at,
            } => {
                assert_eq!(retry_count, 1);
                assert_eq!(next_retry_at, now + chrono::Duration::milliseconds(200));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_budget_of_one_dies_on_the_first_failure() {
        let p = RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        };
        assert_eq!(p.after_failure(1, at(0)), AfterFailure::Dead { retry_count: 1 });
    }
}
