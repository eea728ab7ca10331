//! Sign-in throttling: consecutive failed attempts per account and per client address, with
//! exponential back-off, decided before any password is hashed.
//!
//! Every attempt is counted *before* hashing, atomically in the database (one upsert per
//! subject that refuses to count while the subject is blocked), so parallel requests cannot
//! all read the same count: a burst gets at most the free attempts through. A successful
//! sign-in clears the account's count and takes its own attempt back off the client's.
//!
//! Thresholds (NIST SP 800-63B §5.2.2 asks for at most 100 consecutive failures per account):
//! - account (tenant + normalised email, known or not): 5 attempts free; from the 5th on, each
//!   failure blocks for 2^(n−5) s, at most 15 min; at 100 consecutive failures the account is
//!   blocked for 24 h.
//! - client address (`CF-Connecting-IP`, per tenant; IPv6 by its /64): 20 free; from the 20th
//!   on, 2^(n−20) s, at most 15 min.
//! - a count with no failure for 24 h starts again from zero.
//! - sign-ups (each hashes a password) per client address and tenant: 100 free, a count
//!   forgotten after an hour without one, then 2^(n−100) s, at most 15 min.

use super::time::Timestamp;

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

/// The per-client-address policy (never locks out; the back-off cap applies).
pub const CLIENT: ThrottlePolicy = ThrottlePolicy {
    free_failures: 20,
    max_backoff_ms: 15 * MINUTE,
    lockout_failures: 100,
    lockout_ms: 15 * MINUTE,
    decay_ms: DAY,
};

/// The per-client-address policy for sign-ups, each of which costs a password hash: 100 free
/// (a count forgotten after an hour without one), then 2^(n−100) s, at most 15 min.
pub const SIGNUP: ThrottlePolicy = ThrottlePolicy {
    free_failures: 100,
    max_backoff_ms: 15 * MINUTE,
    lockout_failures: 200,
    lockout_ms: 15 * MINUTE,
    decay_ms: 60 * MINUTE,
};

impl ThrottlePolicy {
    /// How long the subject is blocked after its `n`th consecutive failure.
    pub fn backoff_ms(&self, n: i64) -> i64 {
        if n >= self.lockout_failures {
            self.lockout_ms
        } else if n >= self.free_failures {
            let exponent = (n - self.free_failures).min(30) as u32;
            (1000_i64 << exponent).min(self.max_backoff_ms)
        } else {
            0
        }
    }

    /// `backoff_ms(n)` for every `n` from 0 to the lock-out threshold: the table the database
    /// looks the back-off up in when it counts an attempt (counts past the end use the last).
    pub fn backoff_table(&self) -> Vec<i64> {
        (0..=self.lockout_failures)
            .map(|n| self.backoff_ms(n))
            .collect()
    }
}

/// Seconds to wait until `blocked_until`, rounded up; `None` when not blocked.
pub fn retry_after_seconds(blocked_until: Timestamp, now: Timestamp) -> Option<i64> {
    (blocked_until > now).then(|| (blocked_until.ms_since(now) + 999) / 1000)
}

/// The client-address subject of a request: IPv4 as is, IPv6 by its /64 (one host usually
/// holds a whole /64, so counting single addresses would give it endless fresh counters).
pub fn client_subject(address: &str) -> String {
    if address.contains(':') {
        let groups: Vec<&str> = address.split(':').collect();
        if groups.len() >= 4 && !address.contains("::") {
            return format!("client:{}::/64", groups[..4].join(":"));
        }
        // Compressed forms: expand enough to take the first four groups.
        if let Some((head, _)) = address.split_once("::") {
            let mut first: Vec<&str> = head.split(':').filter(|g| !g.is_empty()).collect();
            while first.len() < 4 {
                first.push("0");
            }
            return format!("client:{}::/64", first[..4].join(":"));
        }
    }
    format!("client:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_are_free_then_back_off_doubles() {
        for n in 0..5 {
            assert_eq!(ACCOUNT.backoff_ms(n), 0, "{n}");
        }
        assert_eq!(ACCOUNT.backoff_ms(5), 1_000);
        assert_eq!(ACCOUNT.backoff_ms(6), 2_000);
        assert_eq!(ACCOUNT.backoff_ms(7), 4_000);
    }

    #[test]
    fn back_off_is_capped_and_100_failures_lock_the_account_for_a_day() {
        assert_eq!(ACCOUNT.backoff_ms(99), 15 * MINUTE);
        assert_eq!(ACCOUNT.backoff_ms(100), DAY);
        assert_eq!(ACCOUNT.backoff_table().len(), 101);
        assert_eq!(*ACCOUNT.backoff_table().last().unwrap(), DAY);
    }

    #[test]
    fn client_addresses_get_more_room_and_no_lockout() {
        assert_eq!(CLIENT.backoff_ms(19), 0);
        assert_eq!(CLIENT.backoff_ms(20), 1_000);
        assert_eq!(CLIENT.backoff_ms(1_000), 15 * MINUTE);
    }

    #[test]
    fn sign_ups_are_generous_but_bounded() {
        assert_eq!(SIGNUP.backoff_ms(99), 0);
        assert_eq!(SIGNUP.backoff_ms(100), 1_000);
        assert_eq!(SIGNUP.backoff_ms(150), 15 * MINUTE);
        assert_eq!(SIGNUP.backoff_table().len(), 201);
    }

    #[test]
    fn retry_after_rounds_up() {
        let at = Timestamp::from_unix_ms;
        assert_eq!(retry_after_seconds(at(1_001), at(0)), Some(2));
        assert_eq!(retry_after_seconds(at(1_000), at(1_000)), None);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(client_subject("203.0.113.7"), "client:203.0.113.7");
        assert_eq!(
            client_subject("2001:db8:1:2:3:4:5:6"),
            "client:2001:db8:1:2::/64"
        );
        assert_eq!(
            client_subject("2001:db8:1:2::9"),
            "client:2001:db8:1:2::/64"
        );
        assert_eq!(client_subject("2001:db8::1"), "client:2001:db8:0:0::/64");
    }
}
