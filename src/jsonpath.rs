//! Compiled JSONPath queries (RFC 9535, through jsonpath-rust) and item predicates.
//!
//! Paths are parsed once, when the playbook is loaded; an invalid one is a located error then, never
//! at request time.

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

/// A JSONPath query such as `$.tasks[*]`.
#[derive(Clone, Debug)]
pub struct JsonPath {
    source: String,
    query: JpQuery,
}

impl JsonPath {
    pub fn parse(source: &str) -> Result<JsonPath, String> {
        let trimmed = source.trim();
        if !trimmed.starts_with('$') {
            return Err(format!(
                "`{source}` is not a JSONPath: it must start at the root, like `$.tasks[*]`"
            ));
        }
        let query = parse_json_path(trimmed).map_err(|e| {
            format!(
                "`{source}` is not a valid JSONPath: {}",
                first_line(&e.to_string())
            )
        })?;
        crate::jsonpath_functions::check(&query)
            .map_err(|e| format!("`{source}` is not a valid JSONPath: {e}"))?;
        Ok(JsonPath {
            source: trimmed.to_string(),
            query,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every value the path selects.
    pub fn query<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        match js_path_process(&self.query, value) {
            Ok(found) => found.into_iter().map(|r| r.val()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The first value selected, ignoring null.
    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.query(value).into_iter().find(|v| !v.is_null())
    }

    /// The first value selected, as text (strings bare, numbers and booleans printed).
    pub fn first_text(&self, value: &Value) -> Option<String> {
        self.first(value).and_then(scalar_text)
    }
}

/// A predicate on one JSON value, written as a JSONPath filter expression: `@.attempts < 3`.
#[derive(Clone, Debug)]
pub struct Predicate {
    source: String,
    query: JpQuery,
}

impl Predicate {
    pub fn parse(expression: &str) -> Result<Predicate, String> {
        let expression = expression.trim();
        let expression = expression
            .strip_prefix("$[?")
            .and_then(|e| e.strip_suffix(']'))
            .unwrap_or(expression);
        let query = parse_json_path(&format!("$[?({expression})]")).map_err(|e| {
            format!(
                "`{expression}` is not a valid JSONPath filter expression ({}); write it like `@.status == 'failed' && @.attempts < 3`",
                first_line(&e.to_string())
            )
        })?;
        crate::jsonpath_functions::check(&query).map_err(|e| format!("`{expression}`: {e}"))?;
        Ok(Predicate {
            source: expression.to_string(),
            query,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, value: &Value) -> bool {
        let wrapped = Value::Array(vec![value.clone()]);
        js_path_process(&self.query, &wrapped).is_ok_and(|found| !found.is_empty())
    }
}

/// Where APIs put an error's text when nothing more specific is known, in the order tried.
const MESSAGE_PATHS: [&str; 4] = ["$.message", "$.error", "$.detail", "$.msg"];

/// [`MESSAGE_PATHS`], compiled.
pub fn message_paths() -> Vec<JsonPath> {
    MESSAGE_PATHS
        .iter()
        .filter_map(|p| JsonPath::parse(p).ok())
        .collect()
}

/// Strings bare; numbers and booleans as written; anything else has no text.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_select_items() {
        let doc = json!({"data": [{"tasks": [{"id": 1}, {"id": 2}]}, {"tasks": [{"id": 3}]}]});
        let path = JsonPath::parse("$.data[*].tasks[*]").unwrap();
        assert_eq!(path.query(&doc).len(), 3);
        assert_eq!(
            JsonPath::parse("$.data[0].tasks[1].id")
                .unwrap()
                .first_text(&doc)
                .as_deref(),
            Some("2")
        );
    }

    #[test]
    fn invalid_paths_are_refused() {
        assert!(JsonPath::parse("$.tasks[").is_err());
        assert!(JsonPath::parse("tasks").is_err());
    }

    #[test]
    fn predicates_match_one_item() {
        let p = Predicate::parse("@.attempts < 3 && @.status == 'failed'").unwrap();
        assert!(p.matches(&json!({"attempts": 1, "status": "failed"})));
        assert!(!p.matches(&json!({"attempts": 5, "status": "failed"})));
        assert!(!p.matches(&json!({"status": "failed"})));
        assert!(Predicate::parse("@.a <<< 3").is_err());
    }
}
