//! Requests: a method, a path or URL (compiled so that item values in it are checked against its
//! shape when the request is built), query, headers and a JSON body whose strings are templates;
//! and the reads of one item (`enrich`, a retry's `check`, a verify) built on them.

use serde_json::Value;

use super::{Compiler, ROOTS_ITEM};
use crate::diagnostic::Diagnostic;
use crate::playbook::layer::Place;
use crate::playbook::model::{self, Spanned};
use crate::template::Template;

use super::plan::{BodyTemplate, EnrichPlan, RequestPlan, Target};

/// The methods a request may use.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

impl Compiler<'_> {
    /// A request whose templates may read `roots`; `at` is the step, for what it lacks.
    pub(super) fn request(
        &mut self,
        r: &model::Request,
        roots: &[&str],
        default_method: &str,
        at: Place,
    ) -> Option<RequestPlan> {
        let method_text = r
            .method
            .as_deref()
            .unwrap_or(default_method)
            .to_ascii_uppercase();
        let method = match reqwest::Method::from_bytes(method_text.as_bytes()) {
            Ok(m) if METHODS.contains(&m.as_str()) => m,
            _ => {
                return self.error(
                    at,
                    format!("unknown HTTP method `{method_text}`"),
                    Some("use GET, POST, PUT, PATCH or DELETE".into()),
                );
            }
        };
        let target = match (&r.path, &r.url) {
            (Some(p), None) => Target::Path(self.path_template(p, roots, "path")?),
            (None, Some(u)) => Target::Url(self.path_template(u, roots, "url")?),
            (Some(_), Some(u)) => {
                return self.error(
                    self.sources.place(u),
                    "a request has `path` or `url`, not both",
                    None,
                );
            }
            (None, None) => {
                return self.error(
                    at,
                    "the request has no `path` or `url`",
                    Some("add `path: /tasks` (under the base URL) or a full `url:`".into()),
                );
            }
        };
        let mut query = Vec::new();
        for (name, value) in &r.query {
            let texts: Vec<String> = match &value.value {
                model::QueryValue::One(s) => vec![s.0.clone()],
                model::QueryValue::Many(list) => list.iter().map(|s| s.0.clone()).collect(),
            };
            let mut compiled = Vec::new();
            for text in texts {
                let spanned = Spanned::new(text, value.referenced, value.defined);
                compiled.extend(self.template(&spanned, roots));
            }
            query.push((name.clone(), compiled));
        }
        let mut headers = Vec::new();
        for (name, value) in &r.headers {
            headers.extend(self.template(value, roots).map(|t| (name.clone(), t)));
        }
        let body = r.body.as_ref().map(|b| self.body(&b.value, b, roots));
        Some(RequestPlan {
            method,
            target,
            query,
            headers,
            body,
        })
    }

    /// A request's `path:` or `url:` (`key`), and a warning for each item value that goes into the
    /// path unencoded.
    fn path_template(
        &mut self,
        text: &Spanned<String>,
        roots: &[&str],
        key: &str,
    ) -> Option<Template> {
        let plain = self.template(text, roots)?;
        let place = self.sources.place(text);
        let (template, expressions) = match self.templates.path_template(&plain) {
            Ok(compiled) => compiled,
            Err(e) => return self.error(place, format!("invalid `{key}`: {e}"), None),
        };
        for e in expressions.iter().filter(|e| e.in_path && !e.encoded) {
            let warning = Diagnostic::warning(format!(
                "`{{{{ {} }}}}` goes into the request {key} unencoded: an item whose value holds `/`, `?` or `#` (`a/b`, `../x`) is refused rather than sent",
                e.source
            ))
            .help(format!(
                "write `{{{{ {} | urlencode }}}}`: it encodes `/`, `?`, `#`, `%` and every other reserved character, so the value stays one path segment",
                e.source
            ));
            self.warnings.push(self.sources.locate(warning, place));
        }
        Some(template)
    }

    /// A JSON body: a string holding a tag is a template, everything else is sent as written.
    pub(super) fn body(
        &mut self,
        value: &Value,
        at: &Spanned<Value>,
        roots: &[&str],
    ) -> BodyTemplate {
        match value {
            Value::String(s) if s.contains("{{") || s.contains("{%") => {
                let spanned = Spanned::new(s.clone(), at.referenced, at.defined);
                match self.template(&spanned, roots) {
                    Some(t) => BodyTemplate::Text(t),
                    None => BodyTemplate::Literal(Value::Null),
                }
            }
            Value::Array(items) => {
                BodyTemplate::Array(items.iter().map(|v| self.body(v, at, roots)).collect())
            }
            Value::Object(map) => BodyTemplate::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.body(v, at, roots)))
                    .collect(),
            ),
            other => BodyTemplate::Literal(other.clone()),
        }
    }

    /// A read of one item (already layered with the adapter's get-one request); `what` names it
    /// in an error (`the \`enrich\` of step \`tasks\``, `verify step \`settled\``).
    pub(super) fn enrich(
        &mut self,
        e: &model::Enrich,
        at: Place,
        what: &str,
    ) -> Option<EnrichPlan> {
        let Some(request) = &e.request else {
            let provider = self.provider.name();
            return self.error(
                at,
                format!(
                    "{what} has no `request` to read an item with, and the {provider} adapter has no get-one request to use instead"
                ),
                Some("add `request: {path: \"/tasks/{{ task.id | urlencode }}\"}`".into()),
            );
        };
        let request = self.request(request, ROOTS_ITEM, "GET", at)?;
        let item = self.jsonpath_or(&e.item, "$")?;
        let concurrency = match &e.concurrency {
            Some(c) => {
                let count = Spanned::new(
                    c.clone(),
                    serde_saphyr::Location::UNKNOWN,
                    serde_saphyr::Location::UNKNOWN,
                );
                self.count(&count, "concurrency")?.max(1) as usize
            }
            None => 1,
        };
        Some(EnrichPlan {
            request,
            item,
            merge: e.merge.unwrap_or(true),
            concurrency,
        })
    }
}

/// The read of a verify: its request and item path, read as an enrich that merges.
pub(super) fn verify_read(v: &model::Verify) -> model::Enrich {
    model::Enrich {
        request: v.request.clone(),
        item: v.item.clone(),
        merge: Some(true),
        concurrency: v.concurrency.as_ref().map(|c| c.value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{compile_steps, errors};
    use super::super::{StepKind, Target};

    fn fetch_request(
        request: &str,
    ) -> Result<super::super::Plan, Vec<crate::diagnostic::Diagnostic>> {
        compile_steps("", &format!("  - fetch: {{request: {request}}}\n"))
    }

    #[test]
    fn a_request_defaults_to_get_and_its_path() {
        let plan = fetch_request("{path: /tasks, query: {a: [1, 2]}}").expect("a plan");
        let StepKind::Fetch(f) = &plan.steps[0].kind else {
            panic!("a fetch")
        };
        let crate::playbook::compile::FetchSource::Http { listing, .. } = &f.source else {
            panic!("a listing")
        };
        assert_eq!(listing.request.method, reqwest::Method::GET);
        assert!(matches!(&listing.request.target, Target::Path(t) if t.source() == "/tasks"));
        assert_eq!(
            listing.request.query[0].1.len(),
            2,
            "a list repeats the parameter"
        );
    }

    #[test]
    fn a_request_needs_one_target_and_a_known_method() {
        assert_eq!(
            errors(fetch_request("{method: FETCH, path: /x}")),
            ["unknown HTTP method `FETCH`"]
        );
        assert_eq!(
            errors(fetch_request("{path: /x, url: \"http://h/x\"}")),
            ["a request has `path` or `url`, not both"]
        );
        assert_eq!(
            errors(fetch_request("{method: GET}")),
            ["the request has no `path` or `url`"]
        );
    }

    #[test]
    fn an_item_value_in_a_path_unencoded_is_warned_about() {
        let plan = compile_steps(
            "",
            "  - fetch: {ids: a}\n  - retry: {request: {path: \"/t/{{ task.id }}\"}}\n",
        )
        .expect("a plan");
        assert_eq!(plan.warnings.len(), 1);
        assert!(
            plan.warnings[0]
                .message
                .starts_with("`{{ task.id }}` goes into the request path unencoded")
        );
        let plan = compile_steps(
            "",
            "  - fetch: {ids: a}\n  - retry: {request: {path: \"/t/{{ task.id | urlencode }}\"}}\n",
        )
        .expect("a plan");
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn an_enrich_without_a_request_is_refused_where_there_is_no_get_one_request() {
        assert_eq!(
            errors(compile_steps("", "  - fetch: {ids: a, enrich: {}}\n")),
            [
                "the `enrich` of step `fetch` has no `request` to read an item with, and the http adapter has no get-one request to use instead"
            ]
        );
    }
}
