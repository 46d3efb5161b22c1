//! What a listing's or a read's answer holds: its JSON, or why there is none (authentication
//! refused, an HTTP error, not JSON), and whether an empty result is an empty list or the wrong
//! shape of answer.

use serde_json::Value;

use super::StepStop;
use crate::client::{Exchange, Request};
use crate::engine::Abort;
use crate::jsonpath::JsonPath;
use crate::providers::Verdict;
use crate::secrets::Redactor;

/// The JSON of a successful read, or why there is none. A body quoted in the reason is cut only
/// after `redactor` ran over it. Borrowed, not cloned: a listing's page can be most of the memory a
/// run holds.
pub(crate) fn read_json<'a>(
    req: &Request,
    exchange: &'a Exchange,
    redactor: &Redactor,
) -> Result<&'a Value, StepStop> {
    let what = format!("{} {}", req.method, req.url);
    if let Verdict::AuthFailed { reason } = &exchange.verdict {
        return Err(StepStop::Abort(Abort::CredentialsRefused(format!(
            "authentication failed: {what}: {reason}"
        ))));
    }
    let Some(response) = &exchange.response else {
        return Err(StepStop::Failed(format!(
            "{what}: {}",
            exchange.error.as_deref().unwrap_or("no answer")
        )));
    };
    if matches!(response.status, 401 | 403) {
        let detail = short_message(response, redactor);
        return Err(StepStop::Abort(Abort::CredentialsRefused(format!(
            "authentication failed: {what}: HTTP {}{detail}",
            response.status
        ))));
    }
    if let Some(error) = &exchange.error {
        return Err(StepStop::Failed(format!("{what}: {error}")));
    }
    if let Verdict::Failed { reason } | Verdict::Transient { reason } = &exchange.verdict {
        return Err(StepStop::Failed(format!("{what}: {reason}")));
    }
    if !(200..300).contains(&response.status) {
        return Err(StepStop::Failed(format!(
            "{what}: HTTP {}{}",
            response.status,
            short_message(response, redactor)
        )));
    }
    response.json.as_ref().ok_or_else(|| {
        StepStop::Failed(format!(
            "{what}: expected a JSON answer, got {}",
            response.describe_body(redactor)
        ))
    })
}

/// `: message` of an error answer (its JSON message, else its body described), or nothing.
fn short_message(response: &crate::client::Response, redactor: &Redactor) -> String {
    let from_json = response.json.as_ref().and_then(|j| {
        crate::jsonpath::message_paths()
            .iter()
            .find_map(|p| p.first_text(j))
    });
    match from_json {
        Some(m) => format!(": {m}"),
        None if response.text.trim().is_empty() => String::new(),
        None => format!(": {}", response.describe_body(redactor)),
    }
}

/// An answer without the shape a listing's `items:` path expects; the text says what was found.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct WrongShape(String);

/// When a path found no items: fine if the list is there and empty, an error if the answer does not
/// have the shape the path expects.
pub(crate) fn check_shape(items: &JsonPath, json: &Value) -> Result<(), WrongShape> {
    let source = items.source();
    let parent = source.strip_suffix("[*]").unwrap_or(source);
    if parent == "$" || parent.is_empty() {
        return if json.is_array() {
            Ok(())
        } else {
            Err(WrongShape(format!(
                "expected a JSON array of items, got {}",
                kind(json)
            )))
        };
    }
    let Ok(parent_path) = JsonPath::parse(parent) else {
        return Ok(());
    };
    match parent_path.query(json).first() {
        Some(Value::Array(_)) | Some(Value::Null) => Ok(()),
        Some(other) if parent != source => Err(WrongShape(format!(
            "expected an array at {parent}, got {}",
            kind(other)
        ))),
        Some(_) => Ok(()),
        None => {
            let keys = json
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| kind(json).into());
            Err(WrongShape(format!(
                "the answer has nothing at {parent} (it has: {keys}); check `items:`"
            )))
        }
    }
}

/// What kind of JSON value `v` is, for messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
