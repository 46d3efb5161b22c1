//! Transient-failure policy: which answers are transient, how long to wait between attempts
//! (capped exponential backoff with full jitter), and `Retry-After` in both its forms.
//!
//! Invariant: no input makes these panic. Waits are computed with saturating or checked arithmetic,
//! and a `Retry-After` beyond what a `Duration` holds reads as `Duration::MAX`, which is more than any
//! `max_retry_after` (at most `Span::MAX`), so the request fails with that reason and is never waited
//! out.

use std::time::{Duration, SystemTime};

/// Statuses on which the provider did nothing and asks to be tried again.
pub const DEFAULT_TRANSIENT: &[u16] = &[429, 502, 503, 504];

#[derive(Clone, Debug, PartialEq)]
pub struct BackoffPolicy {
    /// Most attempts of one request, the first included (at least 1).
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
    pub on_status: Vec<u16>,
    /// A provider asking to wait longer than this fails the request instead.
    pub max_retry_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            attempts: 5,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            on_status: DEFAULT_TRANSIENT.to_vec(),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl BackoffPolicy {
    pub fn is_transient(&self, status: u16) -> bool {
        self.on_status.contains(&status)
    }

    /// The ceiling of the wait after failed attempt `attempt` (1-based): `initial · 2^(attempt-1)`,
    /// capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait after failed attempt `attempt`: full jitter, uniform in `[0, ceiling]`, from `unit`
    /// in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        // `mul_f64` panics when the product does not fit, which rounding can do near
        // `Duration::MAX`; the checked form falls back to the ceiling itself.
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        Duration::try_from_secs_f64(ceiling.as_secs_f64() * unit)
            .map_or(ceiling, |d| d.min(ceiling))
    }
}

/// The wait a `Retry-After` header asks for: delta-seconds, or an HTTP date (always UTC) relative
/// to `now`. A date in the past means no wait. `None` when the value is neither. A number of seconds
/// too large for a `Duration` (or infinite) is `Duration::MAX`: longer than any `max_retry_after`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only, yet not a u64: more seconds than a u64 holds.
        return Some(Duration::MAX);
    }
    if let Ok(seconds) = value.parse::<f64>() {
        if seconds.is_nan() || seconds < 0.0 {
            return None;
        }
        return Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_within_it() {
        let p = BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            ..Default::default()
        };
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_secs(1));
        assert_eq!(p.ceiling(400), Duration::from_secs(1));
        assert_eq!(p.delay(3, 0.0), Duration::ZERO);
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(200));
        assert!(p.delay(30, 0.999_999) <= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates_in_utc() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    /// Regression (issue 7, case 5): a `Retry-After` beyond any range reads as longer than any
    /// `max_retry_after`, never as a short wait and never as a panic.
    #[test]
    fn retry_after_beyond_any_range_is_longer_than_any_limit() {
        let now = SystemTime::UNIX_EPOCH;
        let limit = crate::units::Span::MAX.0;
        assert_eq!(
            parse_retry_after("9300000000000000000", now),
            Some(Duration::from_secs(9_300_000_000_000_000_000))
        );
        for huge in [
            "18446744073709551616",
            "99999999999999999999999999999",
            "1e300",
            "inf",
            "18446744073709551616.5",
        ] {
            let wait = parse_retry_after(huge, now);
            assert!(wait.is_some_and(|w| w > limit), "{huge}: {wait:?}");
        }
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn backoff_delay_never_overflows_whatever_the_policy() {
        let p = BackoffPolicy {
            initial: Duration::MAX,
            max: Duration::MAX,
            ..Default::default()
        };
        for unit in [0.0, 0.5, 0.999_999, 1.0, f64::NAN, f64::INFINITY, -1.0] {
            assert!(p.delay(64, unit) <= p.ceiling(64), "{unit}");
        }
        assert_eq!(p.delay(1, 1.0), Duration::MAX);
    }
}
