//! Durations (`Span`) and rates (`Rate`): parsed once from the playbook's text, never passed around as
//! strings.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// A length of time written as `500ms`, `30s`, `5m`, `2h`, `7d`, `1w` or a combination like `1h30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub fn parse(text: &str) -> Result<Span, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(span_help("an empty duration"));
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(span_help(&format!("`{text}`")));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| span_help(&format!("`{text}`")))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let seconds = match unit {
                "ms" => {
                    total += Duration::from_millis(number);
                    continue;
                }
                "s" | "sec" | "secs" => 1,
                "m" | "min" | "mins" => 60,
                "h" | "hr" | "hour" | "hours" => 3600,
                "d" | "day" | "days" => 86_400,
                "w" | "week" | "weeks" => 604_800,
                _ => return Err(span_help(&format!("`{text}`"))),
            };
            let add = number
                .checked_mul(seconds)
                .ok_or_else(|| format!("the duration `{text}` is too long"))?;
            total += Duration::from_secs(add);
        }
        Ok(Span(total))
    }
}

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
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let count = NonZeroU32::new(count)
            .ok_or_else(|| format!("the rate `{text}` must be above zero"))?;
        let unit = unit.trim();
        let per = match unit {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => Span::parse(other).map_err(|_| bad())?.0,
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
