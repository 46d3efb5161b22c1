//! `rate:` on a connection or a retry step: a fixed rate (`5/s`, `100/min`, a template over `vars`),
//! or the adaptive pace, `auto` or `{auto: true, max: 50/s, start: 5/s, min: 1/min}`.
//!
//! Read leniently here (any text, any map) and checked by the compiler, which knows where the
//! setting stands: an unknown key, a bad rate or bounds out of order are located errors there,
//! not serde's "did not match any variant".

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

/// A `rate:` as written.
#[derive(Clone, Debug)]
pub enum RateSetting {
    /// `5/s`, `auto`, or a template over `vars` that renders one.
    Text(String),
    /// `{auto: true, max: …, start: …, min: …}`, its keys not yet checked.
    Bounds(Map<String, Value>),
}

impl<'de> Deserialize<'de> for RateSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(RateSetting::Text(s)),
            // `rate: 5` is text the compiler refuses with the usual hint (`5/s`).
            Value::Number(n) => Ok(RateSetting::Text(n.to_string())),
            Value::Object(map) => Ok(RateSetting::Bounds(map)),
            other => Err(serde::de::Error::custom(format!(
                "expected a rate like `5/s`, `auto`, or `{{auto: true, max: 50/s}}`, found {other}"
            ))),
        }
    }
}

/// The forms of `rate:`, for the schema.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum RateSchema {
    /// A fixed rate shared by every worker (`5/s`, `100/min`, `1000/h`, `3/10s`), or `auto`.
    Text(String),
    /// The adaptive pace with bounds.
    Auto(AutoRate),
}

/// `rate: {auto: true, …}`: the pace adapts to the provider's answers within these bounds.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct AutoRate {
    /// Must be `true`.
    auto: bool,
    /// The fastest pace (default `1000/s`).
    #[serde(default)]
    max: Option<String>,
    /// The pace of the first requests (default `5/s`, or `max` when lower).
    #[serde(default)]
    start: Option<String>,
    /// The slowest pace, however often the provider throttles (default `6/min`).
    #[serde(default)]
    min: Option<String>,
}
