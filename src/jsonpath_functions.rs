//! The function calls inside JSONPath filters (`search(@.id, '^t-')`, `match(...)`, `in(...)`),
//! checked when a playbook is loaded.
//!
//! jsonpath-rust evaluates an invalid regular expression as "no match": a filter like `search(@.id, '[')` would pass `validate` and then silently select
//! nothing. Here every call in a parsed query is looked at once, so such a filter is a located
//! error instead. jsonpath-rust has no such check (its parser accepts any string as a pattern);
//! this walks its public syntax tree.
//!
//! Invariant: a pattern accepted here is one jsonpath-rust's evaluation compiles too (the same
//! `regex` crate; its I-Regexp translation only rewrites `.` and adds anchors). Function names are
//! checked by jsonpath-rust's own grammar.

use jsonpath_rust::parser::model::{
    Comparable, Comparison, Filter, FilterAtom, FnArg, JpQuery, Literal, Segment, Selector, Test,
    TestFunction,
};

/// What is wrong with a function call of a JSONPath filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionError {
    /// A literal pattern the `regex` crate does not compile (`why`: its last line).
    #[error(
        "the pattern '{pattern}' of {function}() is not a valid regular expression ({why}); escape a literal `[`, `(` or `\\` with a backslash"
    )]
    InvalidPattern {
        function: &'static str,
        pattern: String,
        why: String,
    },
    /// A literal pattern that is not a string.
    #[error("the pattern of {function}() must be a string, like '^task-[0-9]+$', not {literal}")]
    PatternNotString {
        function: &'static str,
        literal: String,
    },
}

/// The first problem with the function calls in `query`, said so a person can fix it.
pub fn check(query: &JpQuery) -> Result<(), FunctionError> {
    query.segments.iter().try_for_each(segment)
}

fn segment(s: &Segment) -> Result<(), FunctionError> {
    match s {
        Segment::Descendant(inner) => segment(inner),
        Segment::Selector(sel) => selector(sel),
        Segment::Selectors(all) => all.iter().try_for_each(selector),
    }
}

fn selector(s: &Selector) -> Result<(), FunctionError> {
    match s {
        Selector::Filter(f) => filter(f),
        _ => Ok(()),
    }
}

fn filter(f: &Filter) -> Result<(), FunctionError> {
    match f {
        Filter::Or(all) | Filter::And(all) => all.iter().try_for_each(filter),
        Filter::Atom(FilterAtom::Filter { expr, .. }) => filter(expr),
        Filter::Atom(FilterAtom::Test { expr, .. }) => test(expr),
        Filter::Atom(FilterAtom::Comparison(c)) => comparison(c),
    }
}

fn comparison(c: &Comparison) -> Result<(), FunctionError> {
    let (left, right) = c.vals();
    comparable(left)?;
    comparable(right)
}

fn comparable(c: &Comparable) -> Result<(), FunctionError> {
    match c {
        Comparable::Function(f) => function(f),
        Comparable::Literal(_) | Comparable::SingularQuery(_) => Ok(()),
    }
}

fn test(t: &Test) -> Result<(), FunctionError> {
    match t {
        Test::RelQuery(segments) => segments.iter().try_for_each(segment),
        Test::AbsQuery(q) => check(q),
        Test::Function(f) => function(f),
    }
}

fn arg(a: &FnArg) -> Result<(), FunctionError> {
    match a {
        FnArg::Literal(_) => Ok(()),
        FnArg::Test(t) => test(t),
        FnArg::Filter(f) => filter(f),
    }
}

fn function(f: &TestFunction) -> Result<(), FunctionError> {
    match f {
        TestFunction::Search(subject, pattern) => regex("search", subject, pattern),
        TestFunction::Match(subject, pattern) => regex("match", subject, pattern),
        TestFunction::Length(a) => arg(a),
        TestFunction::Value(a) | TestFunction::Count(a) => arg(a),
        // Its grammar admits only the extension functions it knows (`in`, `nin`, …).
        TestFunction::Custom(_, args) => args.iter().try_for_each(arg),
    }
}

/// A literal pattern must be a regular expression the `regex` crate compiles; one read from the
/// data (`search(@.id, @.pattern)`) can only be judged when the filter runs.
fn regex(name: &'static str, subject: &FnArg, pattern: &FnArg) -> Result<(), FunctionError> {
    arg(subject)?;
    match pattern {
        FnArg::Literal(Literal::String(p)) => regex::Regex::new(p).map(|_| ()).map_err(|e| {
            let why = e.to_string();
            // The crate's message quotes the pattern with a caret line; its last line says why.
            let why = why
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or(&why);
            FunctionError::InvalidPattern {
                function: name,
                pattern: p.clone(),
                why: why.trim().trim_start_matches("error: ").to_string(),
            }
        }),
        FnArg::Literal(other) => Err(FunctionError::PatternNotString {
            function: name,
            literal: other.to_string(),
        }),
        other => arg(other),
    }
}

#[cfg(test)]
mod tests {
    use crate::jsonpath::{JsonPath, Predicate};

    /// Regression: `search(@.id, '[')` passed `validate` and selected nothing.
    #[test]
    fn an_invalid_pattern_is_refused_at_load() {
        let err = Predicate::parse("search(@.id, '[')")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`search(@.id, '[')`: the pattern '[' of search() is not a valid regular expression (unclosed character class); escape a literal `[`, `(` or `\\` with a backslash"
        );
        let err = Predicate::parse("@.status == 'failed' && !match(@.id, 'a(b')")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                ": the pattern 'a(b' of match() is not a valid regular expression (unclosed group);"
            ),
            "{err}"
        );
        let err = JsonPath::parse("$.tasks[?search(@.id, '[')]")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "`$.tasks[?search(@.id, '[')]` is not a valid JSONPath: the pattern '[' of search()"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_pattern_that_is_not_a_string_is_refused() {
        assert_eq!(
            Predicate::parse("search(@.id, 5)").unwrap_err().to_string(),
            "`search(@.id, 5)`: the pattern of search() must be a string, like '^task-[0-9]+$', not 5"
        );
    }

    #[test]
    fn valid_patterns_and_patterns_from_the_data_pass() {
        for ok in [
            "search(@.id, '^t-[0-9]+$')",
            "match(@.status, 'FAIL.*') || search(@.message, '\\\\[timeout\\\\]')",
            "search(@.id, @.pattern)",
            "in(@.status, $.wanted) && length(@.id) > 2",
        ] {
            assert!(
                Predicate::parse(ok).is_ok(),
                "{ok}: {:?}",
                Predicate::parse(ok).err()
            );
        }
        let p = Predicate::parse("search(@.id, '^t-')").unwrap();
        assert!(p.matches(&serde_json::json!({"id": "t-1"})));
        assert!(!p.matches(&serde_json::json!({"id": "x-1"})));
    }
}
