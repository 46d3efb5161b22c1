//! runbook's filters: `rfc3339`, `timestamp`, `timestamp_ms`, `strftime(format)`, its own
//! `urlencode` (see the template module's documentation for why it replaces minijinja's), and the
//! internal filter that turns a single expression's value into JSON. `tojson` is minijinja's.

use jiff::Timestamp;
use minijinja::{Environment, ErrorKind, Value};
use percent_encoding::utf8_percent_encode;

use super::NATIVE_FILTER;
use super::path::{ITEM_VALUE_FILTER, UNRESERVED, encode_unreserved, mark_item_value};
use crate::time::{parse_timestamp, rfc3339};

/// Add runbook's filters to `env`.
pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter(
        NATIVE_FILTER,
        |v: Value| -> Result<String, minijinja::Error> {
            if v.is_undefined() {
                return Err(minijinja::Error::new(
                    ErrorKind::UndefinedError,
                    "the expression is undefined",
                ));
            }
            serde_json::to_string(&v)
                .map_err(|e| minijinja::Error::new(ErrorKind::BadSerialization, e.to_string()))
        },
    );
    env.add_filter("rfc3339", |v: Value| -> Result<String, minijinja::Error> {
        Ok(rfc3339(timestamp_arg(&v)?))
    });
    env.add_filter("timestamp", |v: Value| -> Result<i64, minijinja::Error> {
        Ok(timestamp_arg(&v)?.as_second())
    });
    env.add_filter(
        "timestamp_ms",
        |v: Value| -> Result<i64, minijinja::Error> { Ok(timestamp_arg(&v)?.as_millisecond()) },
    );
    env.add_filter(
        "strftime",
        |v: Value, format: String| -> Result<String, minijinja::Error> {
            let ts = timestamp_arg(&v)?;
            let zoned = ts.to_zoned_datetime(jiff::tz::TimeZone::UTC);
            jiff::fmt::strtime::format(format.as_str(), &zoned)
                .map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e.to_string()))
        },
    );
    env.add_filter("urlencode", urlencode);
    env.add_filter(ITEM_VALUE_FILTER, mark_item_value);
}

/// The `urlencode` filter: RFC 3986's unreserved characters kept, all else percent-encoded (see the
/// module's documentation for why it replaces minijinja's). None is empty, as in minijinja.
fn urlencode(value: Value) -> Result<String, minijinja::Error> {
    let encode = |v: &Value| -> String {
        match v.as_str() {
            Some(s) => encode_unreserved(s),
            None => match v.as_bytes() {
                Some(b) => percent_encoding::percent_encode(b, UNRESERVED).to_string(),
                None => utf8_percent_encode(&v.to_string(), UNRESERVED).to_string(),
            },
        }
    };
    if value.is_undefined() || value.is_none() {
        return Ok(String::new());
    }
    if value.kind() != minijinja::value::ValueKind::Map {
        return Ok(encode(&value));
    }
    let mut pairs = Vec::new();
    for key in value.try_iter()? {
        let v = value.get_item(&key)?;
        if !v.is_none() && !v.is_undefined() {
            pairs.push(format!("{}={}", encode(&key), encode(&v)));
        }
    }
    Ok(pairs.join("&"))
}

fn timestamp_arg(v: &Value) -> Result<Timestamp, minijinja::Error> {
    let json = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    parse_timestamp(&json).ok_or_else(|| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("{v} is not a timestamp (RFC 3339, or epoch seconds or milliseconds)"),
        )
    })
}
