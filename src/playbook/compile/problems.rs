//! How the compiler words and places the problems it finds in a playbook's values: a filter,
//! test or function a template calls that the environment lacks (the caret under its name); a
//! JSONPath that does not parse (the caret on the character where it goes wrong); and a value that
//! does not parse (a duration, a rate, a count), reported on its `vars:` line when the value is
//! nothing but a variable's default.

use super::{CallKind, Compiler, Diagnostic, Place, RUNBOOK_FILTERS, Spanned, UnknownCall};

impl Compiler<'_> {
    /// Report a filter, test or function a template calls that the environment does not have,
    /// with the caret under its name.
    pub(super) fn unknown_call(&mut self, place: Place, call: &UnknownCall) {
        let noun = call.kind.noun();
        let help = match (&call.suggestion, call.kind) {
            (Some(best), _) => format!("did you mean `{best}`?"),
            (None, CallKind::Filter) => {
                let names = |skip, take| {
                    let some: Vec<&str> = call
                        .known
                        .iter()
                        .skip(skip)
                        .take(take)
                        .map(String::as_str)
                        .collect();
                    some.join(", ")
                };
                format!(
                    "runbook's filters are {}, and minijinja's built-ins ({}, …)",
                    names(0, RUNBOOK_FILTERS),
                    names(RUNBOOK_FILTERS, 8)
                )
            }
            (None, _) => format!("the {noun}s there are: {}", call.known.join(", ")),
        };
        let diagnostic =
            Diagnostic::new(format!("unknown {noun} `{}` in template", call.name)).help(help);
        let located = self.sources.locate(diagnostic, place).narrow_to(&call.name);
        self.diags.push(located);
    }

    /// A JSONPath or filter expression that does not parse, the caret under where it goes wrong.
    pub(super) fn jsonpath_error(
        &mut self,
        text: &Spanned<String>,
        e: crate::jsonpath::JsonPathError,
    ) {
        let at = e.at();
        let mut d = self
            .sources
            .locate(Diagnostic::new(e), self.sources.place(text));
        if let Some(at) = at {
            d = d.point_into(&text.value, at);
        }
        self.diags.push(d);
    }

    /// Record that `text` did not give a usable value (`as_what`: "a duration"). When `text` is
    /// just `{{ vars.NAME }}` and NAME's default is the playbook's own, the mistake is in the
    /// default: reported on its line, with where it is used in the hint.
    pub(super) fn value_error(&mut self, text: &Spanned<String>, message: String, as_what: &str) {
        let used = self.sources.place(text);
        let defined = single_var(&text.value).and_then(|name| {
            let location = self.var_places.get(name)?;
            let place = self.sources.place(&Spanned::new((), *location, *location));
            Some((name, place))
        });
        match (defined, used.position) {
            (Some((name, place)), Some(at)) if place.position.is_some() => {
                let help = format!("`vars.{name}` is used as {as_what} at line {}", at.line);
                self.error::<()>(place, message, Some(help));
            }
            _ => {
                self.error::<()>(used, message, None);
            }
        }
    }
}

/// The variable a template is nothing but (`{{ vars.since }}` gives `since`), if it is.
fn single_var(template: &str) -> Option<&str> {
    let inner = template
        .trim()
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim();
    let name = inner.strip_prefix("vars.")?;
    (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
}
