//! The sandbox's clock and the few ways its APIs write and read instants.
//!
//! Invariants:
//! - Every timestamp an emulation hands out is derived from [`Clock`], so two sandboxes started with
//!   the same seed differ only by the wall-clock second they started at.
//! - Rendering never panics: an instant out of range renders as an empty string, and parsing client
//!   text yields `None` rather than an error the caller must unwrap.

use tokio::time::Instant;

/// The sandbox's notion of time: wall-clock seconds at start plus monotonic time since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    started: Instant,
    epoch_at_start: i64,
}

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock {
            started: Instant::now(),
            epoch_at_start: jiff::Timestamp::now().as_second(),
        }
    }

    /// Unix seconds at sandbox start, whole seconds: the anchor of all seeded timestamps.
    pub(crate) fn start_secs(&self) -> i64 {
        self.epoch_at_start
    }

    /// Unix seconds now.
    pub(crate) fn now_secs(&self) -> i64 {
        let elapsed = i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX / 2);
        self.epoch_at_start.saturating_add(elapsed)
    }

    /// Milliseconds since sandbox start (what `RecordedRequest::at_ms` holds).
    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// RFC 3339 UTC rendering of Unix seconds (`2026-11-23T10:00:00Z`).
pub(crate) fn rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// [`rfc3339`] with its `Z` written as `zone` instead: `.000Z` for JavaScript's milliseconds,
/// `+00:00` for Python's `isoformat()`.
pub(crate) fn rfc3339_ending(secs: i64, zone: &str) -> String {
    let text = rfc3339(secs);
    match text.strip_suffix('Z') {
        Some(head) => format!("{head}{zone}"),
        None => text,
    }
}

/// Unix seconds of an ISO 8601 instant (`2026-11-20T10:00:00Z`, with an offset, without one as
/// UTC, or a bare UTC date).
pub(crate) fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp.as_second());
    }
    if text.contains('T') {
        return format!("{text}Z")
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|timestamp| timestamp.as_second());
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    format!("{date}T00:00:00Z")
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|timestamp| timestamp.as_second())
}
