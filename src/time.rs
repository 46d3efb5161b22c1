//! Timestamps as providers write them: RFC 3339 strings, or epoch seconds or milliseconds as
//! numbers or digit strings (GeeLark's `scheduleAt` is seconds). Formatting is always RFC 3339 UTC.

use jiff::Timestamp;

/// Epoch values above this are taken as milliseconds (it is the year 5138 in seconds).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Read a timestamp from a JSON value, if it is one.
pub fn parse_timestamp(value: &serde_json::Value) -> Option<Timestamp> {
    match value {
        serde_json::Value::String(s) => parse_timestamp_str(s),
        serde_json::Value::Number(n) => n.as_i64().and_then(from_epoch),
        _ => None,
    }
}

pub fn parse_timestamp_str(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    if let Ok(n) = text.parse::<i64>() {
        return from_epoch(n);
    }
    // A civil date-time without an offset is taken as UTC, as most APIs mean it.
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    None
}

fn from_epoch(n: i64) -> Option<Timestamp> {
    // `unsigned_abs`, not `abs`: `i64::MIN` from a provider must not overflow.
    if n.unsigned_abs() >= MILLIS_THRESHOLD.unsigned_abs() {
        Timestamp::from_millisecond(n).ok()
    } else {
        Timestamp::from_second(n).ok()
    }
}

/// RFC 3339 in UTC with whole seconds, e.g. `2026-11-23T08:00:00Z`: jiff's own printer at
/// precision 0 (a `strftime` pattern is parsed again on every call; a retry writes two of these).
pub fn rfc3339(ts: Timestamp) -> String {
    format!("{ts:.0}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_rfc3339_and_epochs() {
        let expected = "2024-03-17T10:24:00Z".parse::<Timestamp>().unwrap();
        assert_eq!(
            parse_timestamp(&json!("2024-03-17T10:24:00Z")),
            Some(expected)
        );
        assert_eq!(
            parse_timestamp(&json!("2024-03-17T12:24:00+02:00")),
            Some(expected)
        );
        assert_eq!(
            parse_timestamp(&json!(expected.as_second())),
            Some(expected)
        );
        assert_eq!(
            parse_timestamp(&json!(expected.as_millisecond())),
            Some(expected)
        );
        assert_eq!(
            parse_timestamp(&json!(expected.as_second().to_string())),
            Some(expected)
        );
        assert_eq!(
            parse_timestamp(&json!("2024-03-17T10:24:00")),
            Some(expected)
        );
        assert_eq!(parse_timestamp(&json!("yesterday")), None);
        assert_eq!(parse_timestamp(&json!(null)), None);
        assert_eq!(rfc3339(expected), "2024-03-17T10:24:00Z");
        // Fractions are cut, never rounded up; years before 1000 keep four digits.
        let late = Timestamp::from_millisecond(1_710_671_099_999).unwrap();
        assert_eq!(rfc3339(late), "2024-03-17T10:24:59Z");
        let early = "0099-01-02T03:04:05.5Z".parse::<Timestamp>().unwrap();
        assert_eq!(rfc3339(early), "0099-01-02T03:04:05Z");
    }

    /// Regression (issue 7, case 5): `i64::MIN` as an epoch overflowed `abs()`.
    #[test]
    fn epochs_out_of_range_are_not_timestamps() {
        assert_eq!(parse_timestamp(&json!(i64::MIN)), None);
        assert_eq!(parse_timestamp(&json!(i64::MAX)), None);
        assert_eq!(parse_timestamp(&json!(u64::MAX)), None);
        assert_eq!(parse_timestamp(&json!(i64::MIN.to_string())), None);
        assert_eq!(parse_timestamp(&json!("99999-01-01T00:00:00Z")), None);
    }
}
