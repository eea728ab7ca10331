//! Sign-in throttling: consecutive failures per account and per client address, with
//! exponential back-off, decided before any password is hashed.
//!
//! Thresholds (NIST SP 800-63B §5.2.2 asks for at most 100 consecutive failures per account):
//! - account (tenant + normalised email, known or not): 5 failures free; from the 5th on, each
//!   failure blocks for 2^(n−5) s, at most 15 min; at 100 consecutive failures the account is
//!   blocked for 24 h. A successful sign-in clears the account's count.
//! - client address (`CF-Connecting-IP`, per tenant): 20 failures free; from the 20th on,
//!   2^(n−20) s, at most 15 min.
//! - a count with no failure for 24 h starts again from zero.

/// Back-off settings of one kind of subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before any back-off.
    pub free_failures: i64,
    /// Longest back-off below the lock-out threshold.
    pub max_backoff_ms: i64,
    /// Consecutive failures at which the subject is locked out.
    pub lockout_failures: i64,
    /// How long a lock-out lasts.
    pub lockout_ms: i64,
    /// A count older than this (since the last failure) is forgotten.
    pub decay_ms: i64,
}

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// The per-account policy.
pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
    free_failures: 5,
    max_backoff_ms: 15 * MINUTE,
    lockout_failures: 100,
    lockout_ms: DAY,
    decay_ms: DAY,
};

/// The per-client-address policy.
pub const CLIENT: ThrottlePolicy = ThrottlePolicy {
    free_failures: 20,
    max_backoff_ms: 15 * MINUTE,
    lockout_failures: i64::MAX,
    lockout_ms: 0,
    decay_ms: DAY,
};

/// The failure record of one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub count: i64,
    pub last_failed_at_ms: i64,
    pub blocked_until_ms: i64,
}

impl ThrottlePolicy {
    /// `Some(seconds to wait)` when the subject is blocked at `now_ms`.
    pub fn retry_after(&self, failures: &Failures, now_ms: i64) -> Option<i64> {
        (failures.blocked_until_ms > now_ms)
            .then(|| (failures.blocked_until_ms - now_ms + 999) / 1000)
    }

    /// The record after one more failure at `now_ms`.
    pub fn record_failure(&self, failures: &Failures, now_ms: i64) -> Failures {
        let previous = if now_ms - failures.last_failed_at_ms > self.decay_ms {
            0
        } else {
            failures.count
        };
        let count = previous.saturating_add(1);
        let blocked_for = if count >= self.lockout_failures {
            self.lockout_ms
        } else if count >= self.free_failures {
            let exponent = (count - self.free_failures).min(30) as u32;
            (1000_i64 << exponent).min(self.max_backoff_ms)
        } else {
            0
        };
        Failures {
            count,
            last_failed_at_ms: now_ms,
            blocked_until_ms: now_ms + blocked_for,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_are_free_then_back_off_doubles() {
        let mut f = Failures::default();
        let now = 10 * DAY;
        for _ in 0..4 {
            f = ACCOUNT.record_failure(&f, now);
            assert_eq!(ACCOUNT.retry_after(&f, now), None);
        }
        f = ACCOUNT.record_failure(&f, now);
        assert_eq!(f.count, 5);
        assert_eq!(ACCOUNT.retry_after(&f, now), Some(1));
        f = ACCOUNT.record_failure(&f, now);
        assert_eq!(ACCOUNT.retry_after(&f, now), Some(2));
        f = ACCOUNT.record_failure(&f, now);
        assert_eq!(ACCOUNT.retry_after(&f, now), Some(4));
        assert_eq!(ACCOUNT.retry_after(&f, now + 4_000), None);
    }

    #[test]
    fn back_off_is_capped_and_100_failures_lock_the_account_for_a_day() {
        let mut f = Failures::default();
        let now = 10 * DAY;
        for _ in 0..99 {
            f = ACCOUNT.record_failure(&f, now);
        }
        assert_eq!(ACCOUNT.retry_after(&f, now), Some(15 * 60));
        f = ACCOUNT.record_failure(&f, now);
        assert_eq!(f.count, 100);
        assert_eq!(ACCOUNT.retry_after(&f, now), Some(24 * 3600));
    }

    #[test]
    fn an_old_count_is_forgotten() {
        let mut f = Failures::default();
        for _ in 0..10 {
            f = ACCOUNT.record_failure(&f, 0);
        }
        let later = ACCOUNT.record_failure(&f, DAY + 1);
        assert_eq!(later.count, 1);
    }

    #[test]
    fn client_addresses_get_more_room() {
        let mut f = Failures::default();
        for _ in 0..19 {
            f = CLIENT.record_failure(&f, 0);
        }
        assert_eq!(CLIENT.retry_after(&f, 0), None);
        f = CLIENT.record_failure(&f, 0);
        assert_eq!(CLIENT.retry_after(&f, 0), Some(1));
    }
}
