//! Durations (`Span`) and rates (`Rate`): parsed once from the playbook's text, never passed around as
//! strings.
//!
//! Invariant: no `Span` and no `Rate` period is longer than [`Span::MAX`] (100 years). Spans are added
//! to clocks — a deadline `now + timeout`, a rate's next slot, `now - since` — and this bound keeps all
//! of those far inside what `std::time::Instant` and jiff's `Timestamp` hold, so no arithmetic on a
//! parsed span can overflow. Parsing itself adds with checked arithmetic: a text out of range is an
//! error naming the text and the bound, never a panic.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// A length of time written as `500ms`, `30s`, `5m`, `2h`, `7d`, `1w` or a combination like `1h30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    /// The longest span runbook takes: 100 years of 365 days (`36500d`).
    pub const MAX: Span = Span(Duration::from_secs(100 * 365 * 86_400));

    /// A span of `duration`, if it is within [`Span::MAX`].
    pub fn new(duration: Duration) -> Result<Span, String> {
        if duration > Span::MAX.0 {
            return Err(format!("{} is out of range: {MAX_TEXT}", Span(duration)));
        }
        Ok(Span(duration))
    }

    /// Read a span like `1h30m`; an unreadable text or one beyond [`Span::MAX`] is an error that says
    /// how to write it.
    pub fn parse(text: &str) -> Result<Span, String> {
        let text = text.trim();
        match read_span(text) {
            Ok(duration) => Ok(Span(duration)),
            Err(SpanError::Empty) => Err(span_help("an empty duration")),
            Err(SpanError::Unreadable) => Err(span_help(&format!("`{text}`"))),
            Err(SpanError::OutOfRange) => {
                Err(format!("the duration `{text}` is out of range: {MAX_TEXT}"))
            }
        }
    }
}

/// Why a text is not a [`Span`].
#[derive(Debug, PartialEq, Eq)]
enum SpanError {
    Empty,
    Unreadable,
    OutOfRange,
}

/// The sum of `text`'s number-unit pairs, added with checked arithmetic and held within
/// [`Span::MAX`] at every step.
fn read_span(text: &str) -> Result<Duration, SpanError> {
    if text.is_empty() {
        return Err(SpanError::Empty);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(SpanError::Unreadable);
        }
        // Only ASCII digits here, so the one way to fail is a number beyond u64.
        let number: u64 = rest[..digits].parse().map_err(|_| SpanError::OutOfRange)?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let add = match unit {
            "ms" => Some(Duration::from_millis(number)),
            "s" | "sec" | "secs" => Some(Duration::from_secs(number)),
            "m" | "min" | "mins" => number.checked_mul(60).map(Duration::from_secs),
            "h" | "hr" | "hour" | "hours" => number.checked_mul(3600).map(Duration::from_secs),
            "d" | "day" | "days" => number.checked_mul(86_400).map(Duration::from_secs),
            "w" | "week" | "weeks" => number.checked_mul(604_800).map(Duration::from_secs),
            _ => return Err(SpanError::Unreadable),
        };
        total = add
            .and_then(|add| total.checked_add(add))
            .filter(|t| *t <= Span::MAX.0)
            .ok_or(SpanError::OutOfRange)?;
    }
    Ok(total)
}

/// What the bound is, said once for every message that names it.
const MAX_TEXT: &str = "the longest duration runbook takes is 36500d (100 years)";

fn span_help(what: &str) -> String {
    format!(
        "{what} is not a duration: write a number and a unit, like `500ms`, `30s`, `5m`, `24h` or `7d`"
    )
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else {
            let s = ms / 1000;
            match s {
                s if s.is_multiple_of(86_400) && s > 0 => write!(f, "{}d", s / 86_400),
                s if s.is_multiple_of(3600) && s > 0 => write!(f, "{}h", s / 3600),
                s if s.is_multiple_of(60) && s > 0 => write!(f, "{}m", s / 60),
                s => write!(f, "{s}s"),
            }
        }
    }
}

/// A request rate: `count` requests per `per`, written `5/s`, `100/min`, `1000/h` or `3/10s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "`{text}` is not a rate: write requests per unit of time, like `5/s`, `100/min` or `1000/h`"
            )
        };
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count = count.trim();
        if !count.is_empty()
            && count.bytes().all(|b| b.is_ascii_digit())
            && count.parse::<u32>().is_err()
        {
            return Err(format!(
                "the rate `{text}` is out of range: at most {} requests per period",
                u32::MAX
            ));
        }
        let count: u32 = count.parse().map_err(|_| bad())?;
        let count = NonZeroU32::new(count)
            .ok_or_else(|| format!("the rate `{text}` must be above zero"))?;
        let unit = unit.trim();
        let per = match unit {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => match read_span(other) {
                Ok(per) => per,
                Err(SpanError::OutOfRange) => {
                    return Err(format!(
                        "the rate `{text}` is out of range: its period is at most 36500d (100 years)"
                    ));
                }
                Err(_) => return Err(bad()),
            },
        };
        if per.is_zero() {
            return Err(bad());
        }
        Ok(Rate { count, per })
    }

    /// The time between two requests when the rate is spread evenly.
    pub fn interval(&self) -> Duration {
        self.per / self.count.get()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, Span(self.per))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_units_and_combinations() {
        assert_eq!(Span::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(Span::parse("24h").unwrap().0, Duration::from_secs(86_400));
        assert_eq!(
            Span::parse("7d").unwrap().0,
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(Span::parse("1h30m").unwrap().0, Duration::from_secs(5400));
        assert!(Span::parse("7 days ago").is_err());
        assert!(Span::parse("h").is_err());
        assert!(Span::parse("").is_err());
        assert!(Span::parse("99999999999999999999d").is_err());
    }

    /// Regression (issue 7, case 5): `18446744073709551615s1s` overflowed `Duration` while adding and
    /// panicked, even in `validate`.
    #[test]
    fn spans_out_of_range_are_errors_naming_the_bound_not_panics() {
        assert_eq!(
            Span::parse("18446744073709551615s1s"),
            Err("the duration `18446744073709551615s1s` is out of range: the longest duration runbook takes is 36500d (100 years)".into())
        );
        for text in [
            "30000000000000w",
            "99999999999999999999d",
            "18446744073709551615ms18446744073709551615ms",
            "36500d1ms",
            "5215w",
        ] {
            assert!(
                Span::parse(text).is_err_and(|e| e.contains("out of range")),
                "{text}"
            );
        }
        assert_eq!(Span::parse("36500d"), Ok(Span::MAX));
        assert_eq!(Span::MAX.to_string(), "36500d");
        assert!(Span::new(Span::MAX.0).is_ok());
        assert!(Span::new(Duration::MAX).is_err());
    }

    /// Regression (issue 7, case 5): `rate: 1/30000000000000w` parsed, then overflowed the limiter's
    /// clock at the first request.
    #[test]
    fn rates_out_of_range_are_errors_naming_the_bound() {
        assert_eq!(
            Rate::parse("1/30000000000000w"),
            Err("the rate `1/30000000000000w` is out of range: its period is at most 36500d (100 years)".into())
        );
        assert_eq!(
            Rate::parse("4294967296/s"),
            Err(
                "the rate `4294967296/s` is out of range: at most 4294967295 requests per period"
                    .into()
            )
        );
        assert_eq!(Rate::parse("1/36500d").map(|r| r.per), Ok(Span::MAX.0));
    }

    #[test]
    fn rates_parse_and_space_requests() {
        let r = Rate::parse("5/s").unwrap();
        assert_eq!(r.interval(), Duration::from_millis(200));
        let r = Rate::parse("100/min").unwrap();
        assert_eq!(r.interval(), Duration::from_millis(600));
        assert_eq!(Rate::parse("3/10s").unwrap().per, Duration::from_secs(10));
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("fast").is_err());
        assert!(Rate::parse("5/fortnight").is_err());
    }
}
