//! Small helpers the emulations share for reading requests and writing JSON answers.
//!
//! Invariant: nothing here panics on client input; malformed input becomes a [`RequestError`]
//! the caller turns into a 4xx answer in its API's own error dialect (its `Display` is the message
//! the answer carries, with client text cut short by [`shown`]).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// What is wrong with a request, one variant per mistake; every emulated API reads requests
/// through these, so the same mistake is worded the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("parameter '{key}' given more than once")]
    RepeatedParameter { key: String },
    #[error("'{key}' must be an integer from {min} to {max}, got '{got}'")]
    NumberOutOfRange {
        key: String,
        min: u64,
        max: u64,
        got: String,
    },
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("invalid task id in path: {0}")]
    InvalidPathId(String),
    #[error("invalid cursor '{0}'")]
    InvalidCursor(String),
    #[error("'cursor' cannot be combined with 'page', 'per_page' or 'offset'")]
    CursorWithOtherPaging,
    #[error("'page'/'per_page' cannot be combined with 'offset'/'limit'")]
    PageWithOffset,
    #[error("unknown status '{got}'; expected one of {expected}")]
    UnknownStatus { got: String, expected: String },
    #[error("body must be {{\"ids\": [...]}} with 1 to {max} task id strings")]
    BadIdBatch { max: usize },
}

/// Query parameters in order, percent-decoded (invalid encodings are decoded lossily).
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub(crate) fn parse(raw: Option<&str>) -> QueryParams {
        let pairs = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        QueryParams(pairs)
    }

    /// Every value given for `key`, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The single value of `key`; `Err` names the key when it is repeated.
    pub(crate) fn one(&self, key: &str) -> Result<Option<&str>, RequestError> {
        match self.all(key).as_slice() {
            [] => Ok(None),
            [value] => Ok(Some(value)),
            _ => Err(RequestError::RepeatedParameter { key: shown(key) }),
        }
    }

    /// The single value of `key` when it is given once and not empty (a repeated key counts as
    /// not given, as the emulated servers that use this read it).
    pub(crate) fn given(&self, key: &str) -> Option<&str> {
        self.one(key)
            .ok()
            .flatten()
            .filter(|value| !value.is_empty())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(name, _)| name == key)
    }

    /// Every value of `key`, with comma-separated values split and blanks dropped.
    pub(crate) fn list(&self, key: &str) -> Vec<&str> {
        self.all(key)
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .collect()
    }

    /// An integer parameter within `min..=max`, or `default` when absent.
    pub(crate) fn number(
        &self,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, RequestError> {
        let Some(text) = self.one(key)? else {
            return Ok(default);
        };
        match text.trim().parse::<u64>() {
            Ok(value) if (min..=max).contains(&value) => Ok(value),
            _ => Err(RequestError::NumberOutOfRange {
                key: key.to_owned(),
                min,
                max,
                got: shown(text),
            }),
        }
    }
}

/// A header's value as text, if present and valid.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = header(headers, "authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Client-supplied text cut short for echoing in messages, so a huge id makes a small answer.
pub(crate) fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        text.to_owned()
    } else {
        let head: String = text.chars().take(MAX_CHARS).collect();
        format!("{head}…")
    }
}

/// A JSON answer with a status.
pub(crate) fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Parses a request body as JSON; an empty body counts as `empty`.
pub(crate) fn json_body(bytes: &[u8], empty: Value) -> Result<Value, RequestError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(empty);
    }
    serde_json::from_slice(bytes).map_err(|error| RequestError::InvalidJson(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_commas_and_repeats() {
        let query = QueryParams::parse(Some("status=failed,timed_out&status=canceled&x=1"));
        assert_eq!(query.list("status"), ["failed", "timed_out", "canceled"]);
        assert_eq!(
            query.one("status").map_err(|error| error.to_string()),
            Err("parameter 'status' given more than once".to_owned())
        );
        assert_eq!(query.one("x"), Ok(Some("1")));
    }

    #[test]
    fn numbers_are_bounded() {
        let query = QueryParams::parse(Some("a=0&b=5&c=99999999999999999999999&d=x"));
        assert!(query.number("a", 1, 1, 10).is_err());
        assert_eq!(query.number("b", 1, 1, 10), Ok(5));
        assert_eq!(
            query
                .number("c", 1, 1, 10)
                .map_err(|error| error.to_string()),
            Err("'c' must be an integer from 1 to 10, got '99999999999999999999999'".to_owned())
        );
        assert!(query.number("d", 1, 1, 10).is_err());
        assert_eq!(query.number("e", 7, 1, 10), Ok(7));
    }

    #[test]
    fn long_text_is_shortened() {
        assert_eq!(shown("abc"), "abc");
        assert!(shown(&"x".repeat(10_000)).chars().count() <= 81);
    }
}
