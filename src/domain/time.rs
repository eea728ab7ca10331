//! Time as a value: a `Timestamp` (Unix milliseconds) passed in by the caller, never read
//! from a clock here, and formatted as RFC 3339 on the wire.
//!
//! Durations stay plain milliseconds (`i64`, names ending in `_ms`) or seconds (`_seconds`);
//! instants are always a `Timestamp`, so the two cannot be mixed up by accident.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant, in milliseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The epoch itself (used as "long ago" by records created by migrations).
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The instant `unix_ms` milliseconds after the epoch.
    pub const fn from_unix_ms(unix_ms: i64) -> Self {
        Timestamp(unix_ms)
    }

    /// Milliseconds since the epoch.
    pub const fn unix_ms(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down), as JWT claims carry them.
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `ms` milliseconds later (earlier when negative); saturates instead of overflowing.
    pub const fn plus_ms(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// `seconds` seconds later.
    pub const fn plus_seconds(self, seconds: i64) -> Self {
        self.plus_ms(seconds.saturating_mul(1000))
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub const fn ms_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The RFC 3339 UTC form with millisecond precision, e.g. `2023-11-14T22:13:20.123Z`.
    pub fn rfc3339(self) -> String {
        rfc3339(self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Formats Unix milliseconds as an RFC 3339 UTC timestamp with millisecond precision.
pub fn rfc3339(unix_ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(unix_ms) {
        Some(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_milliseconds_as_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp::from_unix_ms(1_700_000_000_123).rfc3339(),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn arithmetic_saturates_and_seconds_round_down() {
        let t = Timestamp::from_unix_ms(1_999);
        assert_eq!(t.unix_seconds(), 1);
        assert_eq!(Timestamp::from_unix_ms(-1).unix_seconds(), -1);
        assert_eq!(t.plus_seconds(2).unix_ms(), 3_999);
        assert_eq!(t.plus_seconds(2).ms_since(t), 2_000);
        assert_eq!(
            Timestamp::from_unix_ms(i64::MAX).plus_ms(1),
            Timestamp::from_unix_ms(i64::MAX)
        );
    }
}
