//! What every request shares (`connection:`: base URL, headers, rate, timeouts, backoff,
//! redirects) and how an item's fields are read (`task:`).

use std::time::Duration;

use super::plan::{ConnectionPlan, FieldsPlan};
use super::{Compiler, ROOTS_CONNECTION, constant_path};
use crate::client::backoff::BackoffPolicy;
use crate::jsonpath::JsonPath;
use crate::playbook::model::{self, Spanned};
use crate::template::Trial;

pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a template is constant text: no expression or statement, perhaps `{# comments #}`
/// (which render to nothing).
fn is_constant_text(value: &str) -> bool {
    !value.contains("{{") && !value.contains("{%")
}

impl Compiler<'_> {
    pub(super) fn connection(&mut self, c: &model::Connection) -> ConnectionPlan {
        let base_url = c
            .base_url
            .as_ref()
            .and_then(|b| self.template(b, ROOTS_CONNECTION));
        let mut headers = Vec::new();
        for (name, value) in &c.headers {
            let Some((t, trial)) = self.checked_template(value, ROOTS_CONNECTION) else {
                continue;
            };
            // Constant text is checked here, as it is sent (without its comments), so that
            // `validate` catches a header that can never be sent (a line break in it); a rendered
            // one is checked before the first request.
            if let (true, Some(Trial::Rendered(text))) = (is_constant_text(&value.value), &trial)
                && let Err(e) = crate::client::header_pair(name, text)
            {
                let help = "write the value on one line, without control characters".to_string();
                self.error::<()>(
                    self.sources.place(value),
                    format!("connection.headers.{name}: {e}"),
                    Some(help),
                );
                continue;
            }
            headers.push((name.clone(), t));
        }
        let rate = c.rate.as_ref().and_then(|r| self.pace(r));
        let timeout = c.timeout.as_ref().and_then(|t| self.span(t));
        let connect_timeout = c.connect_timeout.as_ref().and_then(|t| self.span(t));
        let backoff = self.backoff(c.backoff.as_ref(), BackoffPolicy::default());
        let redirects = match c.redirects {
            None | Some(model::RedirectRule::SameOrigin) => crate::client::Redirects::SameOrigin,
            Some(model::RedirectRule::Any) => crate::client::Redirects::Any,
            Some(model::RedirectRule::None) => crate::client::Redirects::None,
        };
        ConnectionPlan {
            base_url,
            headers,
            rate,
            timeout: timeout.map_or(DEFAULT_TIMEOUT, |s| s.0),
            connect_timeout: connect_timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |s| s.0),
            backoff,
            redirects,
        }
    }

    /// `policy` with what `b` says.
    pub(super) fn backoff(
        &mut self,
        b: Option<&model::Backoff>,
        mut policy: BackoffPolicy,
    ) -> BackoffPolicy {
        let Some(b) = b else { return policy };
        if let Some(n) = b.attempts {
            policy.attempts = n.max(1);
        }
        if let Some(s) = b.initial.as_ref().and_then(|s| self.span(s)) {
            policy.initial = s.0;
        }
        if let Some(s) = b.max.as_ref().and_then(|s| self.span(s)) {
            policy.max = s.0;
        }
        if let Some(s) = b.max_retry_after.as_ref().and_then(|s| self.span(s)) {
            policy.max_retry_after = s.0;
        }
        if let Some(list) = &b.on_status {
            policy.on_status = list.clone();
        }
        policy
    }

    /// The JSONPaths of an item's fields; `$.id`, `$.status` and `$.created_at` unless given.
    pub(super) fn fields(&mut self, t: &model::TaskFields) -> FieldsPlan {
        let optional = |c: &mut Self, path: &Option<Spanned<String>>| -> Option<JsonPath> {
            path.as_ref().and_then(|p| c.jsonpath(p))
        };
        let id = self.jsonpath_or(&t.id, "$.id");
        let label = optional(self, &t.label);
        let status = self.jsonpath_or(&t.status, "$.status");
        let created_at = self.jsonpath_or(&t.created_at, "$.created_at");
        let message = optional(self, &t.message);
        FieldsPlan {
            id: id.unwrap_or_else(|| constant_path("$.id")),
            label,
            status,
            created_at,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_WINDOW;
    use super::super::tests::{LIST, compile_steps, errors};
    use super::*;
    use crate::template::context;

    #[test]
    fn a_header_of_constant_text_is_checked_as_sent_without_its_comments() {
        let head = "connection:\n  headers:\n    X-Note: \"{# note #}a\\nb\"\n";
        let errors = errors(compile_steps(head, LIST));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("connection.headers.X-Note: "),
            "{errors:?}"
        );
        let head = "connection:\n  headers:\n    X-Note: \"{# a\\nnote #}abc\"\n";
        let plan = compile_steps(head, LIST).expect("a line break in a comment is never sent");
        let (name, template) = &plan.connection.headers[0];
        let sent = plan.templates.render(template, &context([]));
        assert_eq!((name.as_str(), sent.as_deref()), ("X-Note", Ok("abc")));
        assert!(is_constant_text("{# note #}abc"));
        assert!(!is_constant_text("{{ vars.x }}"));
    }

    #[test]
    fn defaults_of_the_connection_and_guards() {
        let plan = compile_steps("", LIST).expect("a plan");
        assert_eq!(plan.connection.timeout, DEFAULT_TIMEOUT);
        assert_eq!(plan.connection.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(plan.guards.window, DEFAULT_WINDOW);
        assert!(plan.connection.base_url.is_none());
        let plan = compile_steps("guards: {window: 0}\n", LIST).expect("a plan");
        assert_eq!(plan.guards.window, 1, "a window holds at least one item");
    }
}
