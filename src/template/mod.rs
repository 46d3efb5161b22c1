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
//!
//! Rooms: [`functions`] and [`filters`] are what templates may call; [`calls`] finds what a
//! template calls and checks it against the environment at load; [`path`] compiles and renders
//! request paths with item values marked; [`scan`] holds the hand-written scans of template source
//! (operator counts, tag ends, `ago()` literals) that minijinja's private lexer cannot do for us.

mod calls;
mod filters;
mod functions;
mod path;
mod scan;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::secrets::{EnvSource, Redactor};

pub use calls::{CallKind, UnknownCall};
pub use path::{PathExpression, PathPiece, Scope};
use scan::{check_ago_literals, literal_calls, single_expression, too_many_operators};

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
    /// A request path or URL whose only expressions are `{{ task.id | urlencode }}`: its text
    /// around them, rendered without minijinja ([`Templates::render_path`] with [`Scope::TaskId`]).
    by_task_id: Option<Arc<[path::IdPiece]>>,
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

/// Why a template did not render at run time; one variant per kind of mistake. The text is the
/// one the run shows (`render` errors name the step and item around it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template is broken whatever the data: out of fuel, recursion too deep, a syntax error.
    #[error("{account}")]
    Broken { account: String },
    /// The data did not fit the template: an undefined value, a wrong type, a failed `required()`,
    /// a missing variable. Only the item at hand fails.
    #[error("{account}")]
    Data { account: String },
    /// The output passed its cap: broken whatever the data.
    #[error("the template rendered more than {MAX_OUTPUT} bytes")]
    TooLong,
    /// A single expression's value was not JSON.
    #[error("the expression did not give JSON: {why}")]
    NotJson { why: String },
}

impl RenderError {
    /// A minijinja error, judged broken or data (see [`is_broken`]) and described.
    fn of(e: &minijinja::Error) -> RenderError {
        let account = describe(e);
        if is_broken(e) {
            RenderError::Broken { account }
        } else {
            RenderError::Data { account }
        }
    }

    /// The template is at fault whatever the data: the playbook is invalid.
    pub fn is_broken(&self) -> bool {
        matches!(self, RenderError::Broken { .. } | RenderError::TooLong)
    }
}

/// Callers that report errors as text (the engine's step errors, the loader's diagnostics).
impl From<RenderError> for String {
    fn from(e: RenderError) -> String {
        e.to_string()
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

        functions::register(&mut env, vars_env, redactor, now);
        filters::register(&mut env);
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
            by_task_id: None,
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
        // A name the template calls is a function, known or not (`unknown_calls` tells the
        // unknown ones), never a variable.
        let called: Vec<&str> = calls::calls(&template.source)
            .into_iter()
            .filter(|(kind, _)| *kind == CallKind::Function)
            .map(|(_, name)| name)
            .collect();
        t.undeclared_variables(true)
            .into_iter()
            .filter(|v| {
                let root = v.split('.').next().unwrap_or_default();
                !FUNCTIONS.contains(&root) && !called.contains(&root)
            })
            .collect()
    }

    /// The filters, tests and functions `template` calls that this environment does not have, each
    /// with the closest name it has: found at load, so that no item fails on them at run time.
    pub fn unknown_calls(&self, template: &Template) -> Vec<UnknownCall> {
        if template.literal {
            return Vec::new();
        }
        calls::calls(&template.source)
            .into_iter()
            .filter(|(kind, name)| !calls::exists(&self.env, *kind, name))
            .map(|(kind, name)| {
                let known = calls::known(&self.env, kind);
                let suggestion =
                    crate::diagnostic::did_you_mean(name, known.iter().map(String::as_str))
                        .map(str::to_string);
                UnknownCall {
                    kind,
                    name: name.to_string(),
                    suggestion,
                    known,
                }
            })
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
    pub fn render(&self, template: &Template, ctx: &Value) -> Result<String, RenderError> {
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
    ) -> Result<serde_json::Value, RenderError> {
        if template.literal {
            return Ok(serde_json::Value::String(template.source.to_string()));
        }
        let out = self.render_raw(template, ctx)?;
        if template.native {
            serde_json::from_str(&out).map_err(|e| RenderError::NotJson { why: e.to_string() })
        } else {
            Ok(serde_json::Value::String(out))
        }
    }

    fn render_raw(&self, template: &Template, ctx: &Value) -> Result<String, RenderError> {
        self.attempt(template, ctx)
            .map_err(|e| self.record_broken(template, e))
    }

    /// `e`, remembered as the run's first sign of a broken template if it is one.
    fn record_broken(&self, template: &Template, e: RenderError) -> RenderError {
        if e.is_broken() {
            let mut first = self.broken.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_none() {
                *first = Some(match &template.origin {
                    Some(at) => format!("{at}: {e}"),
                    None => e.to_string(),
                });
            }
        }
        e
    }

    /// Render; an error says what went wrong, and its kind whether it makes the template broken.
    fn attempt(&self, template: &Template, ctx: &Value) -> Result<String, RenderError> {
        let t = self
            .env
            .get_template(&template.name)
            .map_err(|e| RenderError::of(&e))?;
        let out = t.render(ctx).map_err(|e| RenderError::of(&e))?;
        if out.len() > MAX_OUTPUT {
            return Err(RenderError::TooLong);
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
            Err(e) if e.is_broken() => Trial::Broken(e.to_string()),
            Err(_) => Trial::Unresolved,
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
