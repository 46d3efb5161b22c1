//! Compiled JSONPath queries (RFC 9535, through jsonpath-rust) and item predicates.
//!
//! Paths are parsed once, when the playbook is loaded; an invalid one is a located error then, never
//! at request time.
//!
//! Invariant: a path or predicate holds at most one descendant segment (`..`). Each one visits every
//! node under each node the path has reached so far, and jsonpath-rust builds a path string for every
//! result, so two or more multiply work and memory by the size of the answer (`$..*..*..*` on a
//! 157 KB answer passed 4 GB). With one, the work stays proportional to the answer, which the HTTP
//! client already caps.

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

pub use crate::jsonpath_functions::FunctionError;

/// Why a JSONPath or a predicate was refused when the playbook was loaded; one variant per mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    /// A path that does not start at the root `$`.
    #[error("`{path}` is not a JSONPath: it must start at the root, like `$.tasks[*]`")]
    NotRooted { path: String },
    /// A path jsonpath-rust cannot parse (`why`: the first line of its message).
    #[error("`{path}` is not a valid JSONPath: {why}")]
    PathSyntax { path: String, why: String },
    /// A path whose function call is wrong (an invalid pattern).
    #[error("`{path}` is not a valid JSONPath: {problem}")]
    PathFunction {
        path: String,
        problem: FunctionError,
    },
    /// A filter expression jsonpath-rust cannot parse.
    #[error(
        "`{expression}` is not a valid JSONPath filter expression ({why}); write it like `@.status == 'failed' && @.attempts < 3`"
    )]
    FilterSyntax { expression: String, why: String },
    /// A filter expression whose function call is wrong.
    #[error("`{expression}`: {problem}")]
    FilterFunction {
        expression: String,
        problem: FunctionError,
    },
    /// More descendant segments (`..`) than [`MAX_DESCENDANTS`]; see the module's invariant.
    #[error(
        "`{path}` has {count} descendant segments (`..`); runbook allows {MAX_DESCENDANTS}, because each one multiplies the work by the size of the answer. Spell out the levels in between, like `$..tasks[*]` or `$.data[*].tasks[*]`"
    )]
    TooManyDescendants { path: String, count: usize },
}

/// The loader's diagnostics take text: the message, as shown.
impl From<JsonPathError> for String {
    fn from(e: JsonPathError) -> String {
        e.to_string()
    }
}

/// A JSONPath query such as `$.tasks[*]`.
#[derive(Clone, Debug)]
pub struct JsonPath {
    source: String,
    query: JpQuery,
}

impl JsonPath {
    pub fn parse(source: &str) -> Result<JsonPath, JsonPathError> {
        let trimmed = source.trim();
        if !trimmed.starts_with('$') {
            return Err(JsonPathError::NotRooted {
                path: source.to_string(),
            });
        }
        let query = parse_json_path(trimmed).map_err(|e| JsonPathError::PathSyntax {
            path: source.to_string(),
            why: first_line(&e.to_string()).to_string(),
        })?;
        crate::jsonpath_functions::check(&query).map_err(|problem| {
            JsonPathError::PathFunction {
                path: source.to_string(),
                problem,
            }
        })?;
        check_descendants(trimmed)?;
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
    pub fn parse(expression: &str) -> Result<Predicate, JsonPathError> {
        let expression = expression.trim();
        let expression = expression
            .strip_prefix("$[?")
            .and_then(|e| e.strip_suffix(']'))
            .unwrap_or(expression);
        let query = parse_json_path(&format!("$[?({expression})]")).map_err(|e| {
            JsonPathError::FilterSyntax {
                expression: expression.to_string(),
                why: first_line(&e.to_string()).to_string(),
            }
        })?;
        crate::jsonpath_functions::check(&query).map_err(|problem| {
            JsonPathError::FilterFunction {
                expression: expression.to_string(),
                problem,
            }
        })?;
        check_descendants(expression)?;
        Ok(Predicate {
            source: expression.to_string(),
            query,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, value: &Value) -> bool {
        self.matches_owned(value.clone())
    }

    /// [`Predicate::matches`] on a value the caller no longer needs: no copy is made of it.
    pub fn matches_owned(&self, value: Value) -> bool {
        let wrapped = Value::Array(vec![value]);
        js_path_process(&self.query, &wrapped).is_ok_and(|found| !found.is_empty())
    }
}

/// Most descendant segments (`..`) in one path or predicate; see the module's invariant.
const MAX_DESCENDANTS: usize = 1;

/// Refuse a path with more than [`MAX_DESCENDANTS`] descendant segments. Counted on the text, outside
/// quoted names (where `..` is just characters), because jsonpath-rust's syntax tree nests queries
/// inside filters and functions in a dozen types; in RFC 9535 syntax `..` means nothing else.
fn check_descendants(source: &str) -> Result<(), JsonPathError> {
    let mut count = 0;
    let mut quote: Option<char> = None;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '.') if chars.peek() == Some(&'.') => {
                chars.next();
                count += 1;
            }
            (None, _) => {}
        }
    }
    if count > MAX_DESCENDANTS {
        return Err(JsonPathError::TooManyDescendants {
            path: source.to_string(),
            count,
        });
    }
    Ok(())
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
        // Each mistake has its own variant, for callers that act on the kind.
        assert!(matches!(
            JsonPath::parse("tasks"),
            Err(JsonPathError::NotRooted { .. })
        ));
        assert!(matches!(
            JsonPath::parse("$..a..b"),
            Err(JsonPathError::TooManyDescendants { count: 2, .. })
        ));
    }

    /// Regression (issue 7, case 6): `$..*..*..*` on a 157 KB answer took more than 4 GB.
    #[test]
    fn more_than_one_descendant_segment_is_refused() {
        assert_eq!(
            JsonPath::parse("$..*..*..*")
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                "`$..*..*..*` has 3 descendant segments (`..`); runbook allows 1, because each one multiplies the work by the size of the answer. Spell out the levels in between, like `$..tasks[*]` or `$.data[*].tasks[*]`"
            )
        );
        assert!(
            JsonPath::parse("$..tasks[?@..id]")
                .is_err_and(|e| e.to_string().contains("has 2 descendant segments"))
        );
        assert!(
            Predicate::parse("@..a && @..b")
                .is_err_and(|e| e.to_string().contains("has 2 descendant segments"))
        );
        let doc = json!({"data": [{"tasks": [{"id": 1}]}, {"x": {"tasks": [{"id": 2}]}}]});
        let one = JsonPath::parse("$..tasks[*]").expect("one descendant segment is fine");
        assert_eq!(one.query(&doc).len(), 2);
        assert!(JsonPath::parse("$['a..b']..c").is_ok());
        assert!(JsonPath::parse("$[\"a..\\\"..b\"]..c").is_ok());
        assert!(Predicate::parse("@.name == '..' && @..x").is_ok());
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
