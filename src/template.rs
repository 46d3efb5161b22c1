//! The one template engine: a minijinja `Environment` with strict undefined, fuel and a recursion
//! limit, and runbook's functions and filters.
//!
//! Templates are compiled once, when the playbook is loaded; rendering never parses. A string that
//! is exactly one `{{ expression }}` renders to the expression's native JSON value where a value is
//! wanted (a request body, a list of ids), so `ids: "{{ ids }}"` sends an array, not its text.
//!
//! Functions: `env(name, default)`, `secret(name)` (registered with the redactor), `now()`,
//! `ago(span)`, `required(value, why)` (an error saying `why` when the value is null or empty). Filters: `tojson`, `urlencode` (built in), `rfc3339`, `timestamp`, `timestamp_ms`,
//! `strftime(format)`.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::secrets::{EnvSource, Redactor};
use crate::time::{parse_timestamp, rfc3339};
use crate::units::Span;

/// Instructions one render may execute: enough for any real template, a stop for runaway loops.
const FUEL: u64 = 200_000;
const RECURSION_LIMIT: usize = 64;
/// Longest text one render may produce.
const MAX_OUTPUT: usize = 4 * 1024 * 1024;

/// Most operators in one tag. minijinja limits the nesting of brackets and statements, but not of
/// operator chains (`- - 1`, `not not x`, `a if b else c if …`, `1 + 1 + …`, `x | f | f …`): its
/// parser and compiler recurse once per operator, and tens of thousands of them overflow the stack
/// and abort the process. A thousand is safe on a 2 MiB thread stack; real templates use a few.
const MAX_OPERATORS: usize = 500;

/// The filter that turns a single expression's value into JSON, refusing undefined values.
const NATIVE_FILTER: &str = "__runbook_native";

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
}

impl Template {
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The template engine shared by one run.
pub struct Templates {
    env: Environment<'static>,
    next: usize,
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
                    Span::parse(s)
                        .map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e))?
                } else if let Ok(secs) = i64::try_from(span.clone()) {
                    Span(std::time::Duration::from_secs(secs.max(0) as u64))
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
                        minijinja::Error::new(ErrorKind::InvalidOperation, "ago(): out of range")
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
        Templates { env, next: 0 }
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
        }
        Ok(Template {
            name: name.into(),
            source: source.into(),
            native,
            literal,
        })
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

    /// Render to text. A native template renders its value: strings bare, anything else as JSON.
    pub fn render(&self, template: &Template, ctx: &Value) -> Result<String, String> {
        if template.literal {
            return Ok(template.source.to_string());
        }
        let out = self.render_raw(template, ctx)?;
        if !template.native {
            return Ok(out);
        }
        match serde_json::from_str::<serde_json::Value>(&out) {
            Ok(serde_json::Value::String(s)) => Ok(s),
            Ok(serde_json::Value::Null) => Ok(String::new()),
            Ok(other) => Ok(other.to_string()),
            Err(_) => Ok(out),
        }
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
        let t = self
            .env
            .get_template(&template.name)
            .map_err(|e| describe(&e))?;
        let out = t.render(ctx).map_err(|e| describe(&e))?;
        if out.len() > MAX_OUTPUT {
            return Err(format!(
                "the template rendered more than {MAX_OUTPUT} bytes"
            ));
        }
        Ok(out)
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

fn timestamp_arg(v: &Value) -> Result<Timestamp, minijinja::Error> {
    let json = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    parse_timestamp(&json).ok_or_else(|| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("{v} is not a timestamp (RFC 3339, or epoch seconds or milliseconds)"),
        )
    })
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
}
