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
    /// A path jsonpath-rust cannot parse: `why` says what is wrong, in words, and `at` where (a
    /// character index into `path`), when the parser knows.
    #[error("`{path}` is not a valid JSONPath: {why}")]
    PathSyntax {
        path: String,
        why: String,
        at: Option<usize>,
    },
    /// A path whose function call is wrong (an invalid pattern).
    #[error("`{path}` is not a valid JSONPath: {problem}")]
    PathFunction {
        path: String,
        problem: FunctionError,
    },
    /// A filter expression jsonpath-rust cannot parse (`at` as for [`JsonPathError::PathSyntax`]).
    #[error(
        "`{expression}` is not a valid JSONPath filter expression: {why}; write it like `@.status == 'failed' && @.attempts < 3`"
    )]
    FilterSyntax {
        expression: String,
        why: String,
        at: Option<usize>,
    },
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

impl JsonPathError {
    /// Where in the text as written (a character index, spaces and a `$[?…]` around a filter
    /// expression counted) the parser stopped, if it knows.
    pub fn at(&self) -> Option<usize> {
        match self {
            JsonPathError::PathSyntax { at, .. } | JsonPathError::FilterSyntax { at, .. } => *at,
            _ => None,
        }
    }
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
    /// For a path of plain names (`$.id`, `$.data.status`), perhaps ending in `[*]` (a listing's
    /// `$.tasks[*]`): the names, followed by hand. Such a path is read for every field of every
    /// item (a million times in a 200,000-item fetch), and jsonpath-rust builds a path string for
    /// each value it finds; the result is the same.
    names: Option<PlainPath>,
}

/// A path of plain names, and whether it ends in `[*]` (every member of what the names reach).
#[derive(Clone, Debug)]
struct PlainPath {
    names: Vec<String>,
    every: bool,
}

/// The names of a path made only of `.name` segments (ASCII letters, digits, `_`), perhaps
/// ending in `[*]`, or `None`.
fn plain_names(path: &str) -> Option<PlainPath> {
    let (path, every) = match path.strip_suffix("[*]") {
        Some(path) => (path, true),
        None => (path, false),
    };
    if every && path == "$" {
        return Some(PlainPath {
            names: Vec::new(),
            every,
        });
    }
    let rest = path.strip_prefix("$.")?;
    let names = rest
        .split('.')
        .map(|name| {
            let plain = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            plain.then(|| name.to_string())
        })
        .collect::<Option<Vec<String>>>()?;
    Some(PlainPath { names, every })
}

impl JsonPath {
    pub fn parse(source: &str) -> Result<JsonPath, JsonPathError> {
        let trimmed = source.trim();
        if !trimmed.starts_with('$') {
            return Err(JsonPathError::NotRooted {
                path: source.to_string(),
            });
        }
        let lead = source.chars().count() - source.trim_start().chars().count();
        let query = parse_json_path(trimmed).map_err(|e| {
            let (why, at) = syntax_problem(&e, trimmed, 0);
            JsonPathError::PathSyntax {
                path: source.to_string(),
                why,
                at: at.map(|a| a + lead),
            }
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
            names: plain_names(trimmed),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every value the path selects.
    pub fn query<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        if let Some(plain) = &self.names {
            let found = plain
                .names
                .iter()
                .try_fold(value, |v, name| v.as_object()?.get(name));
            return match (found, plain.every) {
                (found, false) => found.into_iter().collect(),
                (Some(Value::Array(members)), true) => members.iter().collect(),
                (Some(Value::Object(members)), true) => members.values().collect(),
                (_, true) => Vec::new(),
            };
        }
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
    pub fn parse(written: &str) -> Result<Predicate, JsonPathError> {
        let expression = written.trim();
        let expression = expression
            .strip_prefix("$[?")
            .and_then(|e| e.strip_suffix(']'))
            .unwrap_or(expression);
        // Where the expression starts in the text as written (spaces and `$[?` left out).
        let offset = written[..written.find(expression).unwrap_or(0)]
            .chars()
            .count();
        let query = parse_json_path(&format!("$[?({expression})]")).map_err(|e| {
            // The parser read `$[?(` before the expression.
            let (why, at) = syntax_problem(&e, expression, "$[?(".len());
            JsonPathError::FilterSyntax {
                expression: expression.to_string(),
                why,
                at: at.map(|a| a + offset),
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

/// What is wrong with `text` (which the parser read after `prefix` characters of its own), in a
/// user's words, and where (a character index into `text`). jsonpath-rust's own message names its
/// grammar's rules and the position in the text it parsed (`Failed to parse rule: --> 1:9`), which
/// a user never wrote.
fn syntax_problem(
    error: &jsonpath_rust::parser::errors::JsonPathError,
    text: &str,
    prefix: usize,
) -> (String, Option<usize>) {
    use jsonpath_rust::parser::errors::JsonPathError as Library;
    let Library::PestError(pest) = error else {
        return (
            "it could not be read as a path (a selector is written `.name`, `[*]`, `[0]` or `[?…]`)"
                .to_string(),
            None,
        );
    };
    let column = match pest.line_col {
        pest::error::LineColLocation::Pos((_, c))
        | pest::error::LineColLocation::Span((_, c), _) => c,
    };
    let chars: Vec<char> = text.chars().collect();
    if let Some((c, i)) = unclosed(&chars) {
        return (
            format!("the `{c}` at character {} is never closed", i + 1),
            Some(i),
        );
    }
    let at = column.saturating_sub(1 + prefix);
    match chars.get(at) {
        Some(c) => (
            format!("`{c}` at character {} is not expected there", at + 1),
            Some(at),
        ),
        None => (
            "it ends where more was expected".to_string(),
            Some(chars.len().saturating_sub(1)),
        ),
    }
}

/// The bracket or quote `chars` leaves open, and where, if any.
fn unclosed(chars: &[char]) -> Option<(char, usize)> {
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut quote: Option<(char, usize)> = None;
    for (i, &c) in chars.iter().enumerate() {
        match (quote, c) {
            (Some((q, _)), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some((c, i)),
            (None, '[' | '(') => open.push((c, i)),
            (None, ']' | ')') => {
                open.pop();
            }
            _ => {}
        }
    }
    quote.or(open.last().copied())
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
    fn plain_name_paths_find_what_jsonpath_rust_finds() {
        let docs = [
            json!({"id": 1, "a": {"b": {"c": "x"}, "n": null}, "arr": [1, 2]}),
            json!([{"id": 1}]),
            json!("text"),
            json!({"a": [{"b": 1}], "a.b": 2}),
            json!(null),
        ];
        for path in [
            "$.id",
            "$.a.b.c",
            "$.a.n",
            "$.a.b",
            "$.arr",
            "$.missing.x",
            "$.a.b.c.d",
            "$[*]",
            "$.a[*]",
            "$.arr[*]",
            "$.a.b[*]",
            "$.id[*]",
            "$.missing[*]",
        ] {
            let fast = JsonPath::parse(path).expect("a valid path");
            assert!(fast.names.is_some(), "{path} is read by hand");
            let mut slow = fast.clone();
            slow.names = None;
            for doc in &docs {
                assert_eq!(fast.query(doc), slow.query(doc), "{path} on {doc}");
            }
        }
        for other in [
            "$",
            "$[0]",
            "$.a[0]",
            "$.a[*].b",
            "$.a[*][*]",
            "$..id",
            "$['id']",
            "$.é",
            "$.1a",
            "$.a.",
            "$.tasks[?@.id]",
        ] {
            assert!(
                !JsonPath::parse(other).is_ok_and(|p| p.names.is_some()),
                "{other} goes to jsonpath-rust"
            );
        }
    }

    #[test]
    /// Regression (issue 11): a bad path read `Failed to parse rule:  --> 1:9`.
    fn syntax_errors_say_what_and_where_in_the_text_as_written() {
        let message = |r: Result<JsonPath, JsonPathError>| r.map(|_| ()).unwrap_err();
        let e = message(JsonPath::parse("$.tasks[*"));
        assert_eq!(
            e.to_string(),
            "`$.tasks[*` is not a valid JSONPath: the `[` at character 8 is never closed"
        );
        assert_eq!(e.at(), Some(7));
        let e = message(JsonPath::parse(" $.tasks[?@.x == ]"));
        assert_eq!(
            e.to_string(),
            "` $.tasks[?@.x == ]` is not a valid JSONPath: `]` at character 17 is not expected there"
        );
        assert_eq!(e.at(), Some(17));
        let e = Predicate::parse("@.a = 1").map(|_| ()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`@.a = 1` is not a valid JSONPath filter expression: `=` at character 5 is not expected there; write it like `@.status == 'failed' && @.attempts < 3`"
        );
        assert_eq!(e.at(), Some(4));
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
