//! The one template engine: a minijinja `Environment` with strict undefined, fuel and a recursion
//! limit, and runbook's functions and filters.
//!
//! Templates are compiled once, when the playbook is loaded; rendering never parses. A string that
//! is exactly one `{{ expression }}` renders to the expression's native JSON value where a value is
//! wanted (a request body, a list of ids), so `ids: "{{ ids }}"` sends an array, not its text.
//!
//! Functions: `env(name, default)`, `secret(name)` (registered with the redactor), `now()`,
//! `ago(span)`, `required(value, why)` (an error saying `why` when the value is null or empty). Filters: `tojson` (built in), `urlencode`, `rfc3339`, `timestamp`, `timestamp_ms`,
//! `strftime(format)`.
//!
//! `urlencode` is runbook's own, not minijinja's: it keeps only RFC 3986's unreserved characters
//! (`A-Z a-z 0-9 - . _ ~`) and percent-encodes everything else, `/`, `?`, `#`, `%` and `\` included,
//! so an id written `{{ task.id | urlencode }}` is always exactly one path segment. minijinja's keeps
//! `/` (it is made for whole paths), which let an id such as `../admin` or `a/b` name another
//! endpoint. One filter rather than a new `segment` one: every playbook already writes `urlencode`
//! in its paths, so they all become safe unchanged, and there is no weaker spelling left to pick by
//! mistake. (A map still encodes to `k=v&k2=v2`, each part encoded the same way.) Ids that encode to
//! themselves yet still move the path (`.`, `..`, empty) are refused when the request is built.
//!
//! Request paths and URLs are compiled a second way, by [`Templates::path_template`]: each
//! expression that reads anything but `vars` (an item, a task, a step's answer, a loop variable) is
//! wrapped so that its rendered text comes back marked, as a [`PathPiece::Item`]. The request
//! builder checks those pieces against the path's shape before anything is sent.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::secrets::{EnvSource, Redactor};
use crate::time::{parse_timestamp, rfc3339};
use crate::units::Span;

/// Instructions one render may execute: enough for any real template, a stop for runaway loops.
pub(crate) const FUEL: u64 = 200_000;
/// How deep calls (macros, recursive loops) may nest.
pub(crate) const RECURSION_LIMIT: usize = 64;
/// Longest text one render may produce.
const MAX_OUTPUT: usize = 4 * 1024 * 1024;

/// Most operators in one tag. minijinja limits the nesting of brackets and statements, but not of
/// operator chains (`- - 1`, `not not x`, `a if b else c if …`, `1 + 1 + …`, `x | f | f …`): its
/// parser and compiler recurse once per operator, and tens of thousands of them overflow the stack
/// and abort the process. A thousand is safe on a 2 MiB thread stack; real templates use a few.
const MAX_OPERATORS: usize = 500;

/// The filter that turns a single expression's value into JSON, refusing undefined values.
const NATIVE_FILTER: &str = "__runbook_native";

/// The filter that marks the text of an expression reading item data in a request path or URL.
const ITEM_VALUE_FILTER: &str = "__runbook_item_value";
/// Around an item value's text in a rendered path (Unicode private-use characters, which no
/// template writes; a value holding one is refused rather than mistaken for a boundary).
const ITEM_OPEN: char = '\u{E000}';
const ITEM_CLOSE: char = '\u{E001}';

/// What `urlencode` keeps: RFC 3986's unreserved characters. Everything else is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The roots an expression may read and still be the playbook author's own text, not data from a
/// provider: only `vars` (and the functions, which read the environment or the clock).
const TRUSTED_ROOTS: &[&str] = &["vars"];

/// The names templates may call; never reported as undefined variables.
const FUNCTIONS: &[&str] = &[
    "env",
    "secret",
    "now",
    "ago",
    "required",
    "range",
    "dict",
    "namespace",
    "debug",
];

/// A compiled template, cheap to clone.
#[derive(Clone, Debug)]
pub struct Template {
    name: Arc<str>,
    source: Arc<str>,
    /// Renders to a JSON document of the single expression's value.
    native: bool,
    /// Plain text with no template syntax: rendering returns it as is.
    literal: bool,
    /// Where the template was written (`playbook.yaml:14:7`), for errors that make it invalid.
    origin: Option<Arc<str>>,
}

impl Template {
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Remember where the template was written.
    pub fn located(mut self, origin: String) -> Template {
        self.origin = Some(origin.into());
        self
    }
}

/// What rendering a template once, to check it, found.
#[derive(Debug, PartialEq, Eq)]
pub enum Trial {
    Rendered(String),
    /// The template is broken whatever the data: the reason.
    Broken(String),
    /// It could not be rendered now for a reason that may not hold later (an unset variable).
    Unresolved,
}

/// A part of a rendered request path or URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathPiece {
    /// Text the playbook's author wrote, or an expression reading only `vars`.
    Fixed(String),
    /// The text of an expression that read item data (an id, a field, a step's answer).
    Item(String),
}

/// An expression of a request path or URL that reads item data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathExpression {
    /// The expression, as written between `{{` and `}}`.
    pub source: String,
    /// Its last filter is `urlencode`.
    pub encoded: bool,
    /// It stands before any literal `?` or `#`: in the path, not the query or fragment.
    pub in_path: bool,
}

/// The template engine shared by one run.
pub struct Templates {
    env: Environment<'static>,
    next: usize,
    /// The first render error of the run that makes the playbook invalid (see [`is_broken`]).
    broken: std::sync::Mutex<Option<String>>,
}

impl Templates {
    pub fn new(vars_env: Arc<EnvSource>, redactor: Redactor, now: Timestamp) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);

        let source = Arc::clone(&vars_env);
        let registry = redactor.clone();
        env.add_function("env", move |name: String, default: Option<Value>| {
            match (source.get(&name), default) {
                // A credential read with env() rather than secret() is redacted all the same.
                (Some(v), _) if crate::secrets::is_credential_name(&name) => {
                    registry.register(v);
                    Ok(Value::from(v))
                }
                (Some(v), _) => Ok(Value::from(v)),
                (None, Some(d)) => Ok(d),
                (None, None) => Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("environment variable {name} is not set (nor in .env); set it, or give a default: env('{name}', 'value')"),
                )),
            }
        });
        let source = vars_env;
        env.add_function("secret", move |name: String| match source.get(&name) {
            Some(v) => {
                redactor.register(v);
                Ok(Value::from(v))
            }
            None => Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("secret {name} is not set: export {name}=… or add it to .env"),
            )),
        });
        env.add_function("now", move || rfc3339(now));
        env.add_function("required", |value: Value, why: String| {
            if value.is_undefined() || value.is_none() || value.as_str() == Some("") {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, why))
            } else {
                Ok(value)
            }
        });
        env.add_function(
            "ago",
            move |span: Value| -> Result<String, minijinja::Error> {
                let span = if let Some(s) = span.as_str() {
                    Span::parse(s).map_err(|e| {
                        minijinja::Error::new(ErrorKind::InvalidOperation, format!("ago(): {e}"))
                    })?
                } else if let Ok(secs) = i64::try_from(span.clone()) {
                    let secs = u64::try_from(secs).unwrap_or(0);
                    Span::new(std::time::Duration::from_secs(secs)).map_err(|e| {
                        minijinja::Error::new(ErrorKind::InvalidOperation, format!("ago(): {e}"))
                    })?
                } else {
                    return Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        "ago() takes a duration like '7d' or a number of seconds",
                    ));
                };
                let then = jiff::SignedDuration::try_from(span.0)
                    .ok()
                    .and_then(|d| now.checked_sub(d).ok())
                    .ok_or_else(|| {
                        minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!("ago(): {span} before now is before the earliest date runbook can write"),
                        )
                    })?;
                Ok(rfc3339(then))
            },
        );
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
        Templates {
            env,
            next: 0,
            broken: std::sync::Mutex::new(None),
        }
    }

    /// Compile `source`. Errors say what is wrong with the template syntax.
    pub fn compile(&mut self, source: &str) -> Result<Template, String> {
        if too_many_operators(source) {
            return Err(format!(
                "template syntax error: more than {MAX_OPERATORS} operators in one tag; split the expression"
            ));
        }
        let literal = !source.contains("{{") && !source.contains("{%") && !source.contains("{#");
        let native = single_expression(source).is_some();
        let text = match single_expression(source) {
            Some(expr) => format!("{{{{ ({expr}) | {NATIVE_FILTER} }}}}"),
            None => source.to_string(),
        };
        self.next += 1;
        let name = format!("t{}", self.next);
        if !literal {
            self.env
                .add_template_owned(name.clone(), text)
                .map_err(|e| describe(&e))?;
            check_ago_literals(source)?;
        }
        Ok(Template {
            name: name.into(),
            source: source.into(),
            native,
            literal,
            origin: None,
        })
    }

    /// A request path or URL template compiled from `plain` (already compiled and checked by
    /// [`Templates::compile`]) so that [`Templates::render_path`] tells item values from the
    /// author's text; and the expressions that read item data, for `validate`'s warnings.
    pub fn path_template(
        &mut self,
        plain: &Template,
    ) -> Result<(Template, Vec<PathExpression>), String> {
        if plain.literal {
            return Ok((plain.clone(), Vec::new()));
        }
        let (text, expressions) = self.mark_item_expressions(&plain.source)?;
        self.next += 1;
        let name = format!("t{}", self.next);
        self.env
            .add_template_owned(name.clone(), text)
            .map_err(|e| describe(&e))?;
        let template = Template {
            name: name.into(),
            source: Arc::clone(&plain.source),
            // A path is text: `{{ vars.n }}` renders `5` either way, and the marks stay whole.
            native: false,
            literal: false,
            origin: plain.origin.clone(),
        };
        Ok((template, expressions))
    }

    /// `source` with every `{{ expression }}` that reads more than `vars` piped through the
    /// marking filter, and those expressions. Written by hand because minijinja's lexer is not
    /// public; a tag it cannot find the end of is left alone for minijinja to report.
    fn mark_item_expressions(&self, source: &str) -> Result<(String, Vec<PathExpression>), String> {
        let mut out = String::with_capacity(source.len() + 64);
        let mut expressions = Vec::new();
        let mut in_path = true;
        let mut rest = source;
        loop {
            let next_tag = rest
                .match_indices('{')
                .map(|(i, _)| i)
                .find(|&i| matches!(rest.as_bytes().get(i + 1), Some(b'{' | b'%' | b'#')));
            let Some(open) = next_tag else { break };
            let literal = &rest[..open];
            out.push_str(literal);
            if literal.contains(['?', '#']) {
                in_path = false;
            }
            let opener = &rest[open..open + 2];
            let closing = match opener {
                "{{" => "}}",
                "{%" => "%}",
                _ => "#}",
            };
            let body = &rest[open + 2..];
            let Some(end) = tag_end(body, closing) else {
                // Unterminated: minijinja reports it when the text is compiled.
                rest = &rest[open..];
                break;
            };
            let inner = &body[..end];
            rest = &body[end + 2..];
            if opener != "{{" {
                if opener == "{%"
                    && inner
                        .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace())
                        .starts_with("raw")
                {
                    return Err("a request path or URL cannot hold a {% raw %} block".into());
                }
                out.push_str(opener);
                out.push_str(inner);
                out.push_str(closing);
                continue;
            }
            let left = if inner.starts_with(['-', '+']) {
                &inner[..1]
            } else {
                ""
            };
            let right = if inner.len() > left.len() && inner.ends_with(['-', '+']) {
                &inner[inner.len() - 1..]
            } else {
                ""
            };
            let expr = inner[left.len()..inner.len() - right.len()].trim();
            if self.reads_only_trusted(expr) {
                out.push_str("{{");
                out.push_str(inner);
                out.push_str("}}");
                continue;
            }
            out.push_str(&format!(
                "{{{{{left} ({expr}) | {ITEM_VALUE_FILTER} {right}}}}}"
            ));
            expressions.push(PathExpression {
                source: expr.to_string(),
                encoded: ends_with_urlencode(expr),
                in_path,
            });
        }
        out.push_str(rest);
        Ok((out, expressions))
    }

    /// Whether `expr` reads nothing but `vars` and functions.
    fn reads_only_trusted(&self, expr: &str) -> bool {
        let Ok(compiled) = self.env.compile_expression_owned(expr.to_string()) else {
            return false;
        };
        // `debug()` prints the whole context, items included: not the author's text.
        compiled.undeclared_variables(false).iter().all(|name| {
            TRUSTED_ROOTS.contains(&name.as_str())
                || (FUNCTIONS.contains(&name.as_str()) && name != "debug")
        })
    }

    /// Render a template compiled by [`Templates::path_template`] into the author's text and the
    /// item values between it, in order.
    pub fn render_path(&self, template: &Template, ctx: &Value) -> Result<Vec<PathPiece>, String> {
        if template.literal {
            return Ok(vec![PathPiece::Fixed(template.source.to_string())]);
        }
        let out = self.render_raw(template, ctx)?;
        let mut pieces = Vec::new();
        let mut rest = out.as_str();
        while let Some(open) = rest.find(ITEM_OPEN) {
            if open > 0 {
                pieces.push(PathPiece::Fixed(rest[..open].to_string()));
            }
            let value = &rest[open + ITEM_OPEN.len_utf8()..];
            let close = value.find(ITEM_CLOSE).unwrap_or(value.len());
            pieces.push(PathPiece::Item(value[..close].to_string()));
            rest = value
                .get(close + ITEM_CLOSE.len_utf8()..)
                .unwrap_or_default();
        }
        if !rest.is_empty() {
            pieces.push(PathPiece::Fixed(rest.to_string()));
        }
        Ok(pieces)
    }

    /// The variables a template reads, dotted (`vars.agent_id`), functions left out.
    pub fn variables(&self, template: &Template) -> HashSet<String> {
        if template.literal {
            return HashSet::new();
        }
        let Ok(t) = self.env.get_template(&template.name) else {
            return HashSet::new();
        };
        t.undeclared_variables(true)
            .into_iter()
            .filter(|v| !FUNCTIONS.contains(&v.split('.').next().unwrap_or_default()))
            .collect()
    }

    /// The names `template` calls `secret('NAME')` with, as written in its tags (not in comments).
    pub fn secret_names(&self, template: &Template) -> std::collections::BTreeSet<String> {
        literal_calls(&template.source, "secret")
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Render to text. A native template renders its value: strings bare, anything else as JSON.
    pub fn render(&self, template: &Template, ctx: &Value) -> Result<String, String> {
        if template.literal {
            return Ok(template.source.to_string());
        }
        let out = self.render_raw(template, ctx)?;
        Ok(as_text(template, out))
    }

    /// Render to a JSON value: native for a single expression, else the text as a string.
    pub fn render_value(
        &self,
        template: &Template,
        ctx: &Value,
    ) -> Result<serde_json::Value, String> {
        if template.literal {
            return Ok(serde_json::Value::String(template.source.to_string()));
        }
        let out = self.render_raw(template, ctx)?;
        if template.native {
            serde_json::from_str(&out).map_err(|e| format!("the expression did not give JSON: {e}"))
        } else {
            Ok(serde_json::Value::String(out))
        }
    }

    fn render_raw(&self, template: &Template, ctx: &Value) -> Result<String, String> {
        self.attempt(template, ctx).map_err(|(text, broken)| {
            if broken {
                let mut first = self.broken.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    *first = Some(match &template.origin {
                        Some(at) => format!("{at}: {text}"),
                        None => text.clone(),
                    });
                }
            }
            text
        })
    }

    /// Render; an error says what went wrong and whether it makes the template broken.
    fn attempt(&self, template: &Template, ctx: &Value) -> Result<String, (String, bool)> {
        let t = self
            .env
            .get_template(&template.name)
            .map_err(|e| (describe(&e), is_broken(&e)))?;
        let out = t.render(ctx).map_err(|e| (describe(&e), is_broken(&e)))?;
        if out.len() > MAX_OUTPUT {
            return Err((
                format!("the template rendered more than {MAX_OUTPUT} bytes"),
                true,
            ));
        }
        Ok(out)
    }

    /// Render `template` over `ctx` once to check it (at load, over `vars` only), recording
    /// nothing.
    pub fn trial(&self, template: &Template, ctx: &Value) -> Trial {
        if template.literal {
            return Trial::Rendered(template.source.to_string());
        }
        match self.attempt(template, ctx) {
            Ok(out) => Trial::Rendered(as_text(template, out)),
            Err((text, true)) => Trial::Broken(text),
            Err((_, false)) => Trial::Unresolved,
        }
    }

    /// The first error of this run that showed a template to be broken whatever the data (out of
    /// fuel, recursion too deep, a syntax error, output past its cap), with where it was written: the playbook is
    /// invalid, and the run stops.
    pub fn broken(&self) -> Option<String> {
        self.broken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The text of a rendering: a single expression's JSON (`native`) as text, a string unquoted and
/// null empty, so that a check at load sees what a run will.
fn as_text(template: &Template, out: String) -> String {
    if !template.native {
        return out;
    }
    match serde_json::from_str::<serde_json::Value>(&out) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => String::new(),
        Ok(other) => other.to_string(),
        Err(_) => out,
    }
}

/// Whether a tag of `source` holds more than [`MAX_OPERATORS`] operators (outside string
/// literals): chains minijinja would follow without a depth limit. Written by hand because
/// minijinja's lexer is not public; it only counts, so a miscount at worst refuses a monstrous tag.
fn too_many_operators(source: &str) -> bool {
    const KEYWORDS: &[&str] = &["not", "and", "or", "if", "else", "is", "in"];
    let mut rest = source;
    while let Some(open) = rest
        .match_indices('{')
        .map(|(i, _)| i)
        .find(|&i| matches!(rest.as_bytes().get(i + 1), Some(b'{' | b'%')))
    {
        let tag = &rest[open + 2..];
        let mut count = 0;
        let mut quote = None;
        let mut escaped = false;
        let mut word = String::new();
        let mut end = tag.len();
        let mut chars = tag.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            if c.is_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            if KEYWORDS.contains(&word.as_str()) {
                count += 1;
            }
            word.clear();
            match c {
                '\'' | '"' => quote = Some(c),
                '}' | '%' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                    end = i;
                    break;
                }
                '-' | '+' | '~' | '*' | '/' | '%' | '|' | '.' | '<' | '>' | '=' | '!' | '[' => {
                    count += 1
                }
                _ => {}
            }
        }
        if KEYWORDS.contains(&word.as_str()) {
            count += 1;
        }
        if count > MAX_OPERATORS {
            return true;
        }
        rest = &tag[end..];
    }
    false
}

/// The expression inside `{{ … }}` when that is the whole (trimmed) source.
fn single_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

/// Where `closing` ends the tag whose text starts `body`, outside string literals.
fn tag_end(body: &str, closing: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
        } else if body[i..].starts_with(closing) {
            return Some(i);
        }
    }
    None
}

/// Whether the last filter of `expr` is `urlencode`.
fn ends_with_urlencode(expr: &str) -> bool {
    expr.trim_end()
        .strip_suffix("urlencode")
        .is_some_and(|head| head.trim_end().ends_with('|'))
}

/// The `urlencode` filter: RFC 3986's unreserved characters kept, all else percent-encoded (see the
/// module's documentation for why it replaces minijinja's). None is empty, as in minijinja.
fn urlencode(value: Value) -> Result<String, minijinja::Error> {
    let encode = |v: &Value| -> String {
        match v.as_str() {
            Some(s) => utf8_percent_encode(s, UNRESERVED).to_string(),
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

/// The marking filter of request paths and URLs: the value's text between [`ITEM_OPEN`] and
/// [`ITEM_CLOSE`].
fn mark_item_value(value: Value) -> Result<String, minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "the expression is undefined",
        ));
    }
    let text = value.to_string();
    if text.contains([ITEM_OPEN, ITEM_CLOSE]) {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "the value holds U+E000 or U+E001, which runbook reserves in request paths",
        ));
    }
    Ok(format!("{ITEM_OPEN}{text}{ITEM_CLOSE}"))
}

/// `ago('…')` with a literal argument is checked when the template is compiled, so that
/// `validate` refuses `ago('18446744073709551615s1s')` as it refuses the same text in `since:`.
/// Hand-written because minijinja keeps its syntax tree private: the scan looks inside tags only and
/// at calls whose whole argument is one quoted string; anything else is checked when rendered.
fn check_ago_literals(source: &str) -> Result<(), String> {
    for literal in literal_calls(source, "ago") {
        Span::parse(literal).map_err(|e| format!("ago(): {e}"))?;
    }
    Ok(())
}

/// The string literals that `function` is called with in the tags of `source` (`{{ … }}` and
/// `{% … %}`; comments and text are not code): `ago('7d')` gives `7d`.
fn literal_calls<'a>(source: &'a str, function: &str) -> Vec<&'a str> {
    let call = format!("{function}(");
    let mut literals = Vec::new();
    let mut rest = source;
    while let Some(open) = [rest.find("{{"), rest.find("{%")]
        .into_iter()
        .flatten()
        .min()
    {
        let closing = if rest[open..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let tag = &rest[open + 2..];
        // Outside string literals, so `ago('1d') ~ '}}'` is one tag.
        let close = tag_end(tag, closing).unwrap_or(tag.len());
        let mut inside = &tag[..close];
        while let Some(at) = inside.find(&call) {
            let before = inside[..at].chars().next_back();
            let args = inside[at + call.len()..].trim_start();
            inside = &inside[at + call.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let Some(quote) = args.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            let Some(end) = args[1..].find(quote) else {
                continue;
            };
            let literal = &args[1..1 + end];
            if literal.contains('\\') || !args[2 + end..].trim_start().starts_with(')') {
                continue;
            }
            literals.push(literal);
        }
        rest = &tag[close..];
    }
    literals
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

/// Whether a render error is the template's own fault, whatever the data it was given: it ran
/// out of fuel, past the recursion limit, or into a syntax error (output past its cap is judged in
/// `attempt`). (Undefined values, wrong types and failed `required()`
/// depend on the data, and fail only the item at hand.)
fn is_broken(e: &minijinja::Error) -> bool {
    match e.kind() {
        ErrorKind::OutOfFuel | ErrorKind::SyntaxError => true,
        ErrorKind::InvalidOperation => e.detail() == Some("recursion limit exceeded"),
        _ => false,
    }
}

/// A one-line account of a template error, without minijinja's internal template names.
pub fn describe(e: &minijinja::Error) -> String {
    let mut text = match e.kind() {
        ErrorKind::UndefinedError => "undefined value".to_string(),
        ErrorKind::SyntaxError => "template syntax error".to_string(),
        ErrorKind::OutOfFuel => "the template ran too long (out of fuel)".to_string(),
        other => other.to_string(),
    };
    if let Some(detail) = e.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    if let Some(line) = e.line().filter(|l| *l > 1) {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

/// Build a template context from JSON pairs.
pub fn context<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>) -> Value {
    let map: std::collections::BTreeMap<&str, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, Value::from(minijinja::value::Serde(v))))
        .collect();
    Value::from(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn engine(pairs: &[(&str, &str)]) -> (Templates, Redactor) {
        let env = EnvSource::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let redactor = Redactor::default();
        let now = "2026-11-23T12:00:00Z".parse().unwrap();
        (
            Templates::new(Arc::new(env), redactor.clone(), now),
            redactor,
        )
    }

    /// Regression (issue 7, case 5): `ago('18446744073709551615s1s')` panicked while parsing the
    /// span; a literal is now refused when the template is compiled (so by `validate`), anything
    /// else when it is rendered.
    #[test]
    fn ago_out_of_range_is_an_error_at_compile_or_render_never_a_panic() {
        let (mut t, _) = engine(&[]);
        let refused = "ago(): the duration `18446744073709551615s1s` is out of range: the longest duration runbook takes is 36500d (100 years)";
        assert_eq!(
            t.compile("{{ ago('18446744073709551615s1s') }}")
                .err()
                .as_deref(),
            Some(refused)
        );
        assert_eq!(
            t.compile("x {% if ago( \"18446744073709551615s1s\" ) %}y{% endif %}")
                .err()
                .as_deref(),
            Some(refused)
        );
        // A `}}` inside a string does not end the tag before the call.
        assert_eq!(
            t.compile("{{ '}}' ~ ago('18446744073709551615s1s') }}")
                .err()
                .as_deref(),
            Some(refused)
        );
        assert!(t.compile("ago('18446744073709551615s1s') is text").is_ok());
        assert!(
            t.compile("{{ chicago('18446744073709551615s1s') }}")
                .is_ok()
        );
        let ctx = context([(
            "vars",
            &json!({"since": "18446744073709551615s1s", "n": i64::MAX}),
        )]);
        let tpl = t.compile("{{ ago(vars.since) }}").unwrap();
        let err = t.render(&tpl, &ctx).unwrap_err();
        assert!(err.contains(refused), "{err}");
        let tpl = t.compile("{{ ago(vars.n) }}").unwrap();
        let err = t.render(&tpl, &ctx).unwrap_err();
        assert_eq!(
            err,
            "invalid operation: ago(): 9223372036854775807s is out of range: the longest duration runbook takes is 36500d (100 years)"
        );
        let tpl = t.compile("{{ ago('36500d') }}").unwrap();
        assert_eq!(t.render(&tpl, &ctx).unwrap(), "1926-12-18T12:00:00Z");
    }

    #[test]
    fn strict_undefined_is_an_error() {
        let (mut t, _) = engine(&[]);
        let tpl = t.compile("{{ vars.agnet_id }}").unwrap();
        let ctx = context([("vars", &json!({"agent_id": "a"}))]);
        let err = t.render(&tpl, &ctx).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
        assert!(t.variables(&tpl).contains("vars.agnet_id"));
    }

    #[test]
    fn single_expression_renders_native_values() {
        let (mut t, _) = engine(&[]);
        let tpl = t.compile("{{ ids }}").unwrap();
        let ctx = context([("ids", &json!(["a", "b"]))]);
        assert_eq!(t.render_value(&tpl, &ctx).unwrap(), json!(["a", "b"]));
        let mixed = t.compile("id-{{ ids[0] }}").unwrap();
        assert_eq!(t.render_value(&mixed, &ctx).unwrap(), json!("id-a"));
    }

    #[test]
    fn time_helpers_are_relative_to_the_run_clock() {
        let (mut t, _) = engine(&[]);
        let tpl = t
            .compile("{{ ago('7d') }}|{{ now() }}|{{ now() | timestamp }}")
            .unwrap();
        assert_eq!(
            t.render(&tpl, &context([])).unwrap(),
            "2026-11-16T12:00:00Z|2026-11-23T12:00:00Z|1795435200"
        );
        let tpl = t.compile("{{ ago(vars.days ~ 'd') }}").unwrap();
        assert_eq!(
            t.render(&tpl, &context([("vars", &json!({"days": 1}))]))
                .unwrap(),
            "2026-11-22T12:00:00Z"
        );
    }

    #[test]
    fn required_refuses_null_and_empty_values_with_the_reason() {
        let (mut t, _) = engine(&[]);
        let tpl = t
            .compile("/p/{{ required(item.project_id, 'no project') }}")
            .unwrap();
        let ok = context([("item", &json!({"project_id": "p1"}))]);
        assert_eq!(t.render(&tpl, &ok).unwrap(), "/p/p1");
        for missing in [json!({"project_id": null}), json!({"project_id": ""})] {
            let err = t.render(&tpl, &context([("item", &missing)])).unwrap_err();
            assert!(err.contains("no project"), "{err}");
        }
    }

    #[test]
    fn env_values_of_credential_names_are_redacted_and_others_are_not() {
        let (mut t, redactor) = engine(&[
            ("API_TOKEN", "tok-env-7f3a9c1d"),
            ("SMTP_PASS", "pass-env-2b7c"),
            ("REGION", "eu-west-1-region"),
        ]);
        let tpl = t
            .compile("{{ env('API_TOKEN') }} {{ env('SMTP_PASS') }} {{ env('REGION') }}")
            .unwrap();
        let out = t.render(&tpl, &context([])).unwrap();
        assert_eq!(out, "tok-env-7f3a9c1d pass-env-2b7c eu-west-1-region");
        assert_eq!(
            redactor.redact(&out),
            "<redacted> <redacted> eu-west-1-region"
        );
    }

    #[test]
    fn secrets_are_registered_and_missing_ones_named() {
        let (mut t, redactor) = engine(&[("TOKEN", "hunter2-canary")]);
        let tpl = t.compile("Bearer {{ secret('TOKEN') }}").unwrap();
        let out = t.render(&tpl, &context([])).unwrap();
        assert_eq!(redactor.redact(&out), "Bearer <redacted>");
        let missing = t.compile("{{ secret('NOPE') }}").unwrap();
        assert!(
            t.render(&missing, &context([]))
                .unwrap_err()
                .contains("NOPE")
        );
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let (mut t, _) = engine(&[]);
        let tpl = t
            .compile(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            )
            .unwrap();
        assert!(t.render(&tpl, &context([])).is_err());
    }

    #[test]
    fn urlencode_keeps_only_unreserved_characters() {
        let (mut t, _) = engine(&[]);
        let tpl = t
            .compile("{{ '../a/b?c=1#d%e f~._-\\é' | urlencode }}|{{ {'k/': 'x&y', 'n': none} | urlencode }}|{{ 7 | urlencode }}|{{ none | urlencode }}")
            .unwrap();
        assert_eq!(
            t.render(&tpl, &context([])).unwrap(),
            "..%2Fa%2Fb%3Fc%3D1%23d%25e%20f~._-%5C%C3%A9|k%2F=x%26y|7|"
        );
    }

    /// Compile `source` as a request path; render it with `task.id` = `id`.
    fn path(source: &str, id: &str) -> (Vec<PathPiece>, Vec<PathExpression>) {
        let (mut t, _) = engine(&[]);
        let plain = t.compile(source).unwrap();
        let (tpl, expressions) = t.path_template(&plain).unwrap();
        let ctx = context([
            ("task", &json!({"id": id})),
            ("vars", &json!({"prefix": "/api/v2"})),
        ]);
        (t.render_path(&tpl, &ctx).unwrap(), expressions)
    }

    #[test]
    fn a_path_template_marks_item_values_and_not_vars() {
        use PathPiece::{Fixed, Item};
        let (pieces, expressions) = path(
            "{{ vars.prefix }}/tasks/{{- task.id | urlencode -}} /{{ task.id }}?q={{ task.id }}{# c #}",
            "a/b",
        );
        assert_eq!(
            pieces,
            [
                Fixed("/api/v2/tasks/".into()),
                Item("a%2Fb".into()),
                Fixed("/".into()),
                Item("a/b".into()),
                Fixed("?q=".into()),
                Item("a/b".into()),
            ]
        );
        let seen: Vec<(&str, bool, bool)> = expressions
            .iter()
            .map(|e| (e.source.as_str(), e.encoded, e.in_path))
            .collect();
        assert_eq!(
            seen,
            [
                ("task.id | urlencode", true, true),
                ("task.id", false, true),
                ("task.id", false, false),
            ]
        );
    }

    #[test]
    fn a_path_template_marks_loop_and_set_variables_too() {
        use PathPiece::{Fixed, Item};
        let (pieces, expressions) = path(
            "/t/{% set x = task.id %}{{ x }}/{% for p in ['a'] %}{{ p ~ '}}' }}{% endfor %}",
            "i",
        );
        assert_eq!(
            pieces,
            [
                Fixed("/t/".into()),
                Item("i".into()),
                Fixed("/".into()),
                Item("a}}".into())
            ]
        );
        assert_eq!(expressions.len(), 2);
    }

    #[test]
    fn a_raw_block_is_refused_in_a_path() {
        let (mut t, _) = engine(&[]);
        let plain = t.compile("/t/{% raw %}{{ x }}{% endraw %}").unwrap();
        assert_eq!(
            t.path_template(&plain).unwrap_err(),
            "a request path or URL cannot hold a {% raw %} block"
        );
    }

    #[test]
    fn filters_urlencode_and_tojson_exist() {
        let (mut t, _) = engine(&[]);
        let tpl = t
            .compile("{{ 'a b&c' | urlencode }} {{ {'k': 1} | tojson }}")
            .unwrap();
        assert_eq!(
            t.render(&tpl, &context([])).unwrap(),
            "a%20b%26c {\"k\": 1}"
        );
    }

    /// Regression: running out of fuel or past the recursion limit failed only the item at hand
    /// (exit 1); it shows the template broken, and is remembered with its place for the run.
    #[test]
    fn fuel_and_recursion_make_a_template_broken_and_data_errors_do_not() {
        let (mut t, _) = engine(&[]);
        let ctx = context([("vars", &json!({}))]);
        let recursion = t
            .compile("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")
            .unwrap()
            .located("p.yaml:3:9".into());
        assert_eq!(
            t.trial(&recursion, &ctx),
            Trial::Broken("invalid operation: recursion limit exceeded".into())
        );
        assert_eq!(t.broken(), None, "a trial records nothing");
        let fuel = t
            .compile("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")
            .unwrap();
        assert_eq!(
            t.trial(&fuel, &ctx),
            Trial::Broken("the template ran too long (out of fuel)".into())
        );
        let undefined = t.compile("{{ item.id }}").unwrap();
        assert_eq!(t.trial(&undefined, &ctx), Trial::Unresolved);
        let missing = t.compile("{{ secret('NOT_SET') }}").unwrap();
        assert_eq!(t.trial(&missing, &ctx), Trial::Unresolved);
        assert!(t.render(&undefined, &ctx).is_err());
        assert_eq!(t.broken(), None, "an undefined value is the data's fault");
        assert!(t.render(&recursion, &ctx).is_err());
        assert!(t.render(&fuel, &ctx).is_err());
        assert_eq!(
            t.broken().as_deref(),
            Some("p.yaml:3:9: invalid operation: recursion limit exceeded"),
            "the first broken template is kept, with its place"
        );
    }
}
