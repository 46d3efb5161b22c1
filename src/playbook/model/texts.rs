//! The JSON Schema of the texts the loader parses itself: durations (`30s`, `1h30m`) and rates
//! (`5/s`, `3/10s`). The model keeps them as `Spanned<String>` (so that an error points at the YAML),
//! and these schema-only types give editors the same grammar as patterns.
//!
//! Invariant: each pattern accepts exactly the texts [`crate::units::Span::parse`] and
//! [`crate::units::Rate::parse`] accept (bar the numeric bounds a pattern cannot say: 100 years, and
//! at most `u32::MAX` requests per period), or a template (`{{ … }}`), which the compiler renders
//! over `vars` before parsing. The unit test below holds the patterns and the parsers to the same
//! samples.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// The units of a duration, as `units::read_span` reads them.
const UNIT: &str = "(?:ms|s|secs?|m|mins?|h|hr|hours?|d|days?|w|weeks?)";

/// A template: the compiler renders any text holding `{{` over `vars` before parsing it.
const TEMPLATE: &str = r"[\s\S]*\{\{[\s\S]*";

/// `30s`, `1h30m`, ` 7d ` (spaces around it are trimmed), or a template.
pub(crate) fn duration_pattern() -> String {
    format!(r"^(?:\s*(?:[0-9]+{UNIT})+\s*|{TEMPLATE})$")
}

/// `5/s`, `100/min`, `3/10s` (a count above zero, a period above zero), or a template.
pub(crate) fn rate_pattern() -> String {
    let span = format!("[0-9]+{UNIT}");
    let nonzero_span = format!("(?:{span})*0*[1-9][0-9]*{UNIT}(?:{span})*");
    format!(
        r"^(?:\s*\+?0*[1-9][0-9]*\s*/\s*(?:s|sec|second|m|min|minute|h|hour|{nonzero_span})\s*|{TEMPLATE})$"
    )
}

/// A `rate:` of a connection or a retry step: [`rate_pattern`], or `auto` (the adaptive pace; the
/// compiler compares the trimmed text with `auto`).
pub(crate) fn pace_pattern() -> String {
    format!(r"^(?:\s*auto\s*|{}", &rate_pattern()[4..])
}

/// A rate or `auto` in the schema (see [`pace_pattern`]).
pub(crate) struct PaceText;

impl JsonSchema for PaceText {
    fn schema_name() -> Cow<'static, str> {
        "Pace".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Requests per unit of time (`5/s`, `100/min`, `1000/h`, `3/10s`), `auto` for a pace that adapts to the provider's answers, or a template over `vars` that renders one.",
            "type": "string",
            "pattern": pace_pattern(),
        })
    }
}

/// A duration in the schema (the model reads it as text; see the module's documentation).
pub(crate) struct DurationText;

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number and a unit, several in a row (`500ms`, `30s`, `5m`, `24h`, `7d`, `1w`, `1h30m`), at most 36500d; or a template over `vars` that renders one.",
            "type": "string",
            "pattern": duration_pattern(),
        })
    }
}

/// A rate in the schema (the model reads it as text; see the module's documentation).
pub(crate) struct RateText;

impl JsonSchema for RateText {
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Requests per unit of time: `5/s`, `100/min`, `1000/h`, `3/10s`; or a template over `vars` that renders one.",
            "type": "string",
            "pattern": rate_pattern(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Rate, Span};

    const DURATIONS: &[&str] = &[
        "500ms",
        "30s",
        "5m",
        "24h",
        "7d",
        "1w",
        "1h30m",
        " 7d ",
        "2hours",
        "3days",
        "1week",
        "10secs",
        "5mins",
        "1hr",
        "0s",
        "36500d",
        "5 minutes",
        "5",
        "m",
        "",
        " ",
        "7 d",
        "1h 30m",
        "5ss",
        "5ms5",
        "-5s",
        "+5s",
        "5S",
        "1.5h",
        "7d ago",
        "ms5",
    ];

    const RATES: &[&str] = &[
        "5/s",
        "100/min",
        "1000/h",
        "3/10s",
        "1/500ms",
        " 5 / s ",
        "+5/s",
        "05/s",
        "5/sec",
        "5/second",
        "5/minute",
        "5/hour",
        "1/1h30m",
        "1/0s1m",
        "0/s",
        "00/s",
        "5/0s",
        "5/",
        "/s",
        "5",
        "fast",
        "5/fortnight",
        "5/ms",
        "5/10",
        "5/minutes",
        "-5/s",
        "5//s",
        "5/s/s",
        "1.5/s",
        "5/ s",
    ];

    /// Both regex crates agree here: the schema's patterns use only what ECMA 262 and Rust share.
    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern)
            .expect("the pattern compiles")
            .is_match(text)
    }

    #[test]
    fn the_duration_pattern_accepts_exactly_what_the_loader_parses() {
        let pattern = duration_pattern();
        for text in DURATIONS {
            assert_eq!(
                matches(&pattern, text),
                Span::parse(text).is_ok(),
                "{text:?}"
            );
        }
        assert!(matches(&pattern, "{{ vars.since }}"));
        assert!(matches(&pattern, "{{ vars.days ~ 'd' }}"));
    }

    #[test]
    fn the_rate_pattern_accepts_exactly_what_the_loader_parses() {
        let pattern = rate_pattern();
        for text in RATES {
            assert_eq!(
                matches(&pattern, text),
                Rate::parse(text).is_ok(),
                "{text:?}"
            );
        }
        assert!(matches(&pattern, "{{ vars.rate }}"));
        let pace = pace_pattern();
        for text in RATES {
            assert_eq!(matches(&pace, text), Rate::parse(text).is_ok(), "{text:?}");
        }
        assert!(matches(&pace, " auto "));
        assert!(!matches(&pace, "autos"));
    }
}
