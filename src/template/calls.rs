//! The filters, tests and functions a template calls, checked against the real environment when the
//! playbook is loaded, so that `{{ ids | tojsn }}` or `secrt('TOKEN')` is a located error with a
//! did-you-mean from `validate`, instead of an "unknown filter" for every item at run time
//! (minijinja looks filters, tests and functions up only when it reaches them while rendering).
//!
//! The names are found by a hand-written scan of the template's tags, because minijinja keeps its
//! lexer and syntax tree private (they are public only behind `unstable_machinery`, with no semver
//! guarantee). The scan skips string literals, comments and `{% raw %}` blocks; a name followed by
//! `(` is a function call unless it follows `.` (a method), `|` (a filter with arguments) or `is`
//! (a test), or is a macro, a `set` name or a loop variable of the same template. Whether a name
//! exists is asked of the environment itself (`is filter`, `is test`, its globals), never of a
//! list kept here; the lists below only feed the did-you-mean.

use minijinja::Environment;

use super::scan::tag_end;

/// What a template calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    Filter,
    Test,
    Function,
}

impl CallKind {
    /// The word for it in a message.
    pub fn noun(self) -> &'static str {
        match self {
            CallKind::Filter => "filter",
            CallKind::Test => "test",
            CallKind::Function => "function",
        }
    }
}

/// A name a template calls that the environment does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCall {
    pub kind: CallKind,
    pub name: String,
    /// The closest name the environment has, if one is close.
    pub suggestion: Option<String>,
    /// The names there are to call, for the hint.
    pub known: Vec<String>,
}

/// minijinja's built-in filters a playbook may mean, and runbook's own: the candidates of a
/// did-you-mean, each kept only if the environment has it.
const FILTER_NAMES: &[&str] = &[
    "tojson",
    "urlencode",
    "rfc3339",
    "timestamp",
    "timestamp_ms",
    "strftime",
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "default",
    "dictsort",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "trim",
    "unique",
    "upper",
    "zip",
];

/// minijinja's built-in tests, the candidates of a did-you-mean (kept only if the environment has
/// them).
const TEST_NAMES: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "true",
    "false",
    "boolean",
    "number",
    "integer",
    "float",
    "string",
    "sequence",
    "iterable",
    "mapping",
    "odd",
    "even",
    "divisibleby",
    "startingwith",
    "endingwith",
    "lower",
    "upper",
    "in",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "sameas",
    "filter",
    "test",
];

/// Words of the template language that may stand before `(` without calling anything.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "elif",
    "for",
    "recursive",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "set",
    "with",
    "endwith",
    "call",
    "macro",
    "import",
    "from",
    "include",
    "extends",
    "block",
    "filter",
    "as",
];

/// Names a template may call without the environment having them: its own loop and macro
/// machinery.
const BUILT_IN_CALLS: &[&str] = &["loop", "caller", "super", "self", "varargs", "kwargs"];

/// One token of a tag: a name, or one punctuation character. Numbers and string literals are left
/// out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Name(&'a str),
    Punct(char),
}

/// The names `source` calls, by kind, each once, in the order first seen.
pub(super) fn calls(source: &str) -> Vec<(CallKind, &str)> {
    let tags = tags(source);
    let mut defined: Vec<&str> = Vec::new();
    for tokens in &tags {
        // `{% macro NAME(`, `{% set NAME =`, `{% for NAME, OTHER in` and `{% set a, b = … %}`.
        if let Some(Token::Name("macro" | "set" | "for")) = tokens.first() {
            defined.extend(tokens[1..].iter().map_while(|t| match t {
                Token::Name(n) if *n != "in" => Some(*n),
                Token::Punct(',') => Some(""),
                _ => None,
            }));
        }
    }
    let mut found: Vec<(CallKind, &str)> = Vec::new();
    let mut add = |kind, name| {
        if !found.contains(&(kind, name)) {
            found.push((kind, name));
        }
    };
    for tokens in &tags {
        if let [Token::Name("filter"), Token::Name(name), ..] = tokens.as_slice() {
            add(CallKind::Filter, *name);
        }
        for (i, token) in tokens.iter().enumerate() {
            let Token::Name(name) = *token else { continue };
            let before = i.checked_sub(1).map(|j| tokens[j]);
            let before2 = i.checked_sub(2).map(|j| tokens[j]);
            match (before2, before) {
                (_, Some(Token::Punct('|'))) => add(CallKind::Filter, name),
                (_, Some(Token::Name("is"))) if name != "not" => add(CallKind::Test, name),
                (Some(Token::Name("is")), Some(Token::Name("not"))) => add(CallKind::Test, name),
                (_, Some(Token::Punct('.'))) => {}
                _ if tokens.get(i + 1) == Some(&Token::Punct('('))
                    && !KEYWORDS.contains(&name)
                    && !BUILT_IN_CALLS.contains(&name)
                    && !defined.contains(&name) =>
                {
                    add(CallKind::Function, name)
                }
                _ => {}
            }
        }
    }
    found
}

/// The tokens of each `{{ … }}` and `{% … %}` tag of `source`; comments and `{% raw %}` blocks
/// are skipped.
fn tags(source: &str) -> Vec<Vec<Token<'_>>> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find('{').filter(|_| !rest.is_empty()) {
        let after = &rest[open + 1..];
        let closing = match after.chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => {
                rest = after.find("#}").map_or("", |end| &after[end + 2..]);
                continue;
            }
            _ => {
                rest = after;
                continue;
            }
        };
        let body = &after[1..];
        let end = tag_end(body, closing).unwrap_or(body.len());
        let tokens = tokenize(body[..end].trim_start_matches(['-', '+']));
        rest = body.get(end + closing.len()..).unwrap_or("");
        if tokens.first() == Some(&Token::Name("raw")) {
            rest = rest.find("endraw").map_or("", |at| &rest[at..]);
            continue;
        }
        out.push(tokens);
    }
    out
}

/// The names and punctuation of one tag's text; string literals and numbers are dropped.
fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' || c == '"' {
            let mut escaped = false;
            for (_, n) in chars.by_ref() {
                match (escaped, n) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, n) if n == c => break,
                    _ => {}
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, n)) = chars.peek() {
                if !(n.is_alphanumeric() || n == '_') {
                    break;
                }
                end = j + n.len_utf8();
                chars.next();
            }
            tokens.push(Token::Name(&text[i..end]));
        } else if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|(_, n)| n.is_ascii_alphanumeric() || *n == '_' || *n == '.')
            {
                chars.next();
            }
        } else if !c.is_whitespace() {
            tokens.push(Token::Punct(c));
        }
    }
    tokens
}

/// Whether `env` has a filter, test or function called `name`.
pub(super) fn exists(env: &Environment<'static>, kind: CallKind, name: &str) -> bool {
    let question = match kind {
        CallKind::Function => return env.globals().any(|(n, _)| n == name),
        CallKind::Filter => "name is filter",
        CallKind::Test => "name is test",
    };
    env.compile_expression(question)
        .and_then(|e| e.eval(minijinja::context! { name }))
        .is_ok_and(|v| v.is_true())
}

/// The names of `kind` the environment has, for a did-you-mean and a hint.
pub(super) fn known(env: &Environment<'static>, kind: CallKind) -> Vec<String> {
    match kind {
        CallKind::Function => {
            let mut names: Vec<String> = env
                .globals()
                .map(|(n, _)| n.to_string())
                .filter(|n| !n.starts_with("__"))
                .collect();
            names.sort();
            names
        }
        CallKind::Filter => keep_existing(env, kind, FILTER_NAMES),
        CallKind::Test => keep_existing(env, kind, TEST_NAMES),
    }
}

fn keep_existing(env: &Environment<'static>, kind: CallKind, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|n| exists(env, kind, n))
        .map(|n| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_tests_and_functions_are_found_in_tags_only() {
        assert_eq!(
            calls("{{ ids | tojsn }} and {{ x | strftime('%Y') }}"),
            [(CallKind::Filter, "tojsn"), (CallKind::Filter, "strftime")]
        );
        assert_eq!(
            calls("Bearer {{ secrt('T') }} {# nope('x') | f #} {{ 'a(b)' ~ env('X', 'y') }}"),
            [(CallKind::Function, "secrt"), (CallKind::Function, "env")]
        );
        assert_eq!(
            calls("{% if x is not definde %}{% if y is odd %}{% endif %}{% endif %}"),
            [(CallKind::Test, "definde"), (CallKind::Test, "odd")]
        );
        assert_eq!(
            calls("{{ loop.cycle(1) }}{{ item.get('a') }}{{ (1) }}{{ x if (y) else z }}"),
            []
        );
        assert_eq!(
            calls(
                "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1) }}{% filter uppr %}x{% endfilter %}"
            ),
            [(CallKind::Filter, "uppr")]
        );
        assert_eq!(calls("{% raw %}{{ x | nope }}{% endraw %}{{ 1 }}"), []);
        assert_eq!(calls("plain {text} and { braces"), []);
    }

    #[test]
    fn existence_is_asked_of_the_environment() {
        let mut env = Environment::new();
        env.add_function("secret", || "x");
        env.add_filter("urlencode", |v: String| v);
        assert!(exists(&env, CallKind::Function, "secret"));
        assert!(exists(&env, CallKind::Filter, "tojson"));
        assert!(exists(&env, CallKind::Filter, "urlencode"));
        assert!(exists(&env, CallKind::Test, "defined"));
        assert!(!exists(&env, CallKind::Filter, "tojsn"));
        assert!(!exists(&env, CallKind::Function, "secrt"));
        assert!(!exists(&env, CallKind::Test, "definde"));
    }

    /// Every candidate of the did-you-mean is a name the environment has (the lists drift
    /// otherwise with minijinja's versions).
    #[test]
    fn every_listed_name_exists() {
        let env = Environment::new();
        for name in FILTER_NAMES.iter().filter(|n| {
            ![
                "urlencode",
                "rfc3339",
                "timestamp",
                "timestamp_ms",
                "strftime",
            ]
            .contains(n)
        }) {
            assert!(exists(&env, CallKind::Filter, name), "filter {name}");
        }
        for name in TEST_NAMES {
            assert!(exists(&env, CallKind::Test, name), "test {name}");
        }
    }
}
