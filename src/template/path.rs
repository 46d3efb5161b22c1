//! Request paths and URLs, compiled a second way: each expression that reads anything but `vars`
//! is piped through a marking filter, so its rendered text comes back between private-use
//! characters and [`Templates::render_path`] can hand the request builder the author's text and
//! the item values apart, as [`PathPiece`]s.
//!
//! Invariant: an item value's text never holds the marks themselves (such a value is refused), so
//! a boundary is never forged by data.

use std::sync::Arc;

use minijinja::{ErrorKind, Value};

use super::scan::tag_end;
use super::{FUNCTIONS, RenderError, Template, Templates, describe};

/// What `urlencode` keeps: RFC 3986's unreserved characters. Everything else is encoded.
pub(super) const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as the `urlencode` filter writes a string.
pub(super) fn encode_unreserved(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// The filter that marks the text of an expression reading item data in a request path or URL.
pub(super) const ITEM_VALUE_FILTER: &str = "__runbook_item_value";
/// Around an item value's text in a rendered path (Unicode private-use characters, which no
/// template writes; a value holding one is refused rather than mistaken for a boundary).
const ITEM_OPEN: char = '\u{E000}';
const ITEM_CLOSE: char = '\u{E001}';

/// The roots an expression may read and still be the playbook author's own text, not data from a
/// provider: only `vars` (and the functions, which read the environment or the clock).
const TRUSTED_ROOTS: &[&str] = &["vars"];

/// What a request path or URL template is rendered over.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// A whole template context.
    Ctx(&'a Value),
    /// Only an item's id, for a template whose only expressions are `{{ task.id | urlencode }}`
    /// ([`Template::reads_only_task_id`]): no context is built for it, and minijinja is not run.
    TaskId(&'a str),
}

/// A part of a template that reads nothing but `task.id | urlencode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum IdPiece {
    Text(Box<str>),
    EncodedId,
}

/// The pieces of `source` if it is text (no `{`, `}` nor line break: minijinja would keep every
/// byte of it) around expressions that are all exactly `task.id | urlencode` (spaces aside, no
/// whitespace control); `None` for any other template, which minijinja renders.
///
/// Why by hand: this is the path of nearly every retry request (`/tasks/{{ task.id | urlencode
/// }}/retry`), and building the item's context and running minijinja for it was a tenth of
/// the engine thread's time per retry (`perf`, 20,000 retries; bench/notes.md).
fn task_id_pieces(source: &str) -> Option<Arc<[IdPiece]>> {
    let plain = |text: &str| !text.contains(['{', '}', '\n', '\r']);
    let mut pieces = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let (text, tag) = (&rest[..open], &rest[open + 2..]);
        let close = tag.find("}}")?;
        let expression: String = tag[..close].split_whitespace().collect();
        if !plain(text) || expression != "task.id|urlencode" {
            return None;
        }
        if !text.is_empty() {
            pieces.push(IdPiece::Text(text.into()));
        }
        pieces.push(IdPiece::EncodedId);
        rest = &tag[close + 2..];
    }
    if !plain(rest) || pieces.is_empty() {
        return None;
    }
    if !rest.is_empty() {
        pieces.push(IdPiece::Text(rest.into()));
    }
    Some(pieces.into())
}

impl Template {
    /// Whether this request path or URL template reads nothing but `{{ task.id | urlencode }}`,
    /// so that it can be rendered over [`Scope::TaskId`].
    pub fn reads_only_task_id(&self) -> bool {
        self.literal || self.by_task_id.is_some()
    }
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

impl Templates {
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
            by_task_id: task_id_pieces(&plain.source),
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
    ///
    /// Over [`Scope::TaskId`], a template that reads more than the id fails to render: the
    /// caller asks [`Template::reads_only_task_id`] first.
    pub fn render_path(
        &self,
        template: &Template,
        scope: Scope<'_>,
    ) -> Result<Vec<PathPiece>, RenderError> {
        if template.literal {
            return Ok(vec![PathPiece::Fixed(template.source.to_string())]);
        }
        let ctx = match (scope, &template.by_task_id) {
            (Scope::Ctx(ctx), _) => ctx,
            (Scope::TaskId(id), Some(pieces)) => return self.render_task_id(template, pieces, id),
            (Scope::TaskId(_), None) => {
                return Err(RenderError::of(&minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "this path reads more than task.id",
                )));
            }
        };
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
}

impl Templates {
    /// [`Templates::render_path`] of a template that reads only `task.id | urlencode`: the same
    /// pieces minijinja's rendering gives, and the same error past the output's cap.
    fn render_task_id(
        &self,
        template: &Template,
        pieces: &[IdPiece],
        id: &str,
    ) -> Result<Vec<PathPiece>, RenderError> {
        let encoded = encode_unreserved(id);
        let marks = ITEM_OPEN.len_utf8() + ITEM_CLOSE.len_utf8();
        let length: usize = pieces
            .iter()
            .map(|p| match p {
                IdPiece::Text(text) => text.len(),
                IdPiece::EncodedId => encoded.len() + marks,
            })
            .sum();
        if length > super::MAX_OUTPUT {
            return Err(self.record_broken(template, RenderError::TooLong));
        }
        Ok(pieces
            .iter()
            .map(|p| match p {
                IdPiece::Text(text) => PathPiece::Fixed(text.to_string()),
                IdPiece::EncodedId => PathPiece::Item(encoded.clone()),
            })
            .collect())
    }
}

/// Whether the last filter of `expr` is `urlencode`.
fn ends_with_urlencode(expr: &str) -> bool {
    expr.trim_end()
        .strip_suffix("urlencode")
        .is_some_and(|head| head.trim_end().ends_with('|'))
}

/// The marking filter of request paths and URLs: the value's text between [`ITEM_OPEN`] and
/// [`ITEM_CLOSE`].
pub(super) fn mark_item_value(value: Value) -> Result<String, minijinja::Error> {
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
