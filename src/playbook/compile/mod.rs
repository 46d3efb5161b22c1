//! Compilation: a parsed playbook, overlaid with its adapter's defaults (`playbook::layer`), and the
//! command line's `--var`s become a [`Plan`] in which every template, JSONPath, duration and rate
//! is compiled and every reference (`vars.x`, `steps.y`, `input:`) checked. All problems are
//! collected, each located in the file it was written in. Nothing here touches the network.
//!
//! One file per step kind, as in `engine/`; this one holds the run of the compiler over the steps
//! and what every kind uses: templates (with the names each place may read), JSONPaths, durations,
//! rates and counts. Requests and their reads are in `request.rs`.

mod connection;
mod fetch;
mod filter;
mod plan;
mod rate;
mod report;
mod request;
mod retry;
mod vars;
mod verify;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use plan::*;

use super::layer::{Place, Sources, layer};
use super::model::{self, Count, Playbook, Spanned};
use crate::client::backoff::BackoffPolicy;
use crate::diagnostic::{Diagnostic, SourceFile, did_you_mean};
use crate::jsonpath::{JsonPath, Predicate};
use crate::providers::Provider;
use crate::template::{Template, Templates, Trial, context};
use crate::units::{Rate, Span};

/// Names a template may use, by where it stands (each step kind adds its own).
const ROOTS_CONNECTION: &[&str] = &["vars"];
const ROOTS_LIST: &[&str] = &["vars", "steps"];
const ROOTS_ITEM: &[&str] = &["vars", "steps", "item", "task"];
/// The fields of `task` in templates.
pub const TASK_FIELDS: &[&str] = &["id", "label", "status", "created_at", "message", "new_id"];

/// Items the failure ratio looks at unless `guards.window` says otherwise.
const DEFAULT_WINDOW: u32 = 20;

/// Compile `playbook` (read from `file`) with `overrides` from `--var`.
pub fn compile(
    file: &Arc<SourceFile>,
    playbook: Playbook,
    provider: Arc<dyn Provider>,
    overrides: &[(String, String)],
    mut templates: Templates,
) -> Result<Plan, Vec<Diagnostic>> {
    let layered = layer(file, playbook, provider.as_ref()).map_err(|d| vec![d])?;
    let (playbook, sources) = (layered.playbook, layered.sources);
    let (vars, errors) = vars::resolve(&playbook.vars, overrides);
    let diags = errors.iter().map(|e| e.diagnostic(file)).collect();
    let mut c = Compiler {
        sources: &sources,
        templates: &mut templates,
        playbook: &playbook.name.value,
        diags,
        warnings: Vec::new(),
        vars: &vars,
        step_names: Vec::new(),
        selected_statuses: default_statuses(provider.as_ref()),
        task_fields: None,
        provider: provider.as_ref(),
        backoff: BackoffPolicy::default(),
        secrets: BTreeSet::new(),
        steps_read: BTreeSet::new(),
    };
    let connection = c.connection(&playbook.connection);
    c.backoff = connection.backoff.clone();
    let fields = c.fields(&playbook.task);
    c.task_fields = Some(fields);
    let mut steps = Vec::new();
    for (index, step) in playbook.steps.iter().enumerate() {
        steps.extend(c.step(index, step));
    }
    if playbook.steps.is_empty() {
        c.diags.push(
            Diagnostic::new("the playbook has no steps")
                .at(file, None)
                .help("add `steps:` with at least a fetch"),
        );
    }
    let diags = std::mem::take(&mut c.diags);
    let warnings = std::mem::take(&mut c.warnings);
    let secrets = std::mem::take(&mut c.secrets);
    let steps_read = std::mem::take(&mut c.steps_read);
    if !diags.is_empty() {
        return Err(diags);
    }
    fetch::stop_before_from_filters(&mut steps);
    fetch::filters_as_read(&mut steps, &steps_read);
    let g = &playbook.guards;
    let guards = GuardsPlan {
        max_selected: g.max_selected,
        max_selected_ratio: g.max_selected_ratio,
        max_consecutive_failures: g.max_consecutive_failures,
        max_failure_ratio: g.max_failure_ratio,
        window: g.window.unwrap_or(DEFAULT_WINDOW).max(1),
    };
    Ok(Plan {
        guards,
        options: playbook.connection.options.clone(),
        name: playbook.name.value,
        description: playbook.description,
        file: Arc::clone(file),
        provider,
        vars,
        connection,
        steps,
        templates,
        warnings,
        secrets,
    })
}

/// The statuses a retry is kept to before any filter names some: the adapter's retryable ones.
fn default_statuses(provider: &dyn Provider) -> Option<Vec<String>> {
    let statuses = provider.default_retryable();
    (!statuses.is_empty()).then(|| statuses.iter().map(|s| s.to_string()).collect())
}

/// How to fix a template that cannot be rendered whatever the data.
fn broken_help() -> String {
    format!(
        "a template may run {} instructions and nest calls {} deep: look for a loop or a macro that does not end",
        crate::template::FUEL,
        crate::template::RECURSION_LIMIT
    )
}

/// The state of one compilation: the sources, what has been compiled so far, and what was found.
struct Compiler<'a> {
    sources: &'a Sources,
    templates: &'a mut Templates,
    /// The playbook's name (`run.playbook` in report file names).
    playbook: &'a str,
    diags: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    vars: &'a Value,
    step_names: Vec<String>,
    /// The statuses the latest filter step keeps (or the provider's defaults).
    selected_statuses: Option<Vec<String>>,
    /// The playbook's `task:` fields, once compiled.
    task_fields: Option<FieldsPlan>,
    provider: &'a dyn Provider,
    /// The connection's backoff, the base of each retry step's.
    backoff: BackoffPolicy,
    /// The secrets the playbook's own templates call for.
    secrets: BTreeSet<String>,
    /// What the templates read of `steps`, dotted (`steps.failed.count`).
    steps_read: BTreeSet<String>,
}

/// Where a step stands: its place, and whether it is the first (which has no items before it).
#[derive(Clone, Copy)]
struct StepAt {
    place: Place,
    first: bool,
}

impl Compiler<'_> {
    /// Record an error at `place`; `None`, so that a caller can return it.
    fn error<T>(
        &mut self,
        place: Place,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Option<T> {
        let mut d = Diagnostic::new(message);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.diags.push(self.sources.locate(d, place));
        None
    }

    /// Compile a template and check the names it reads against `roots`.
    fn template(&mut self, text: &Spanned<String>, roots: &[&str]) -> Option<Template> {
        self.checked_template(text, roots).map(|(t, _)| t)
    }

    /// [`Compiler::template`], and for a template over `vars` alone what rendering it now gave.
    fn checked_template(
        &mut self,
        text: &Spanned<String>,
        roots: &[&str],
    ) -> Option<(Template, Option<Trial>)> {
        let place = self.sources.place(text);
        let template = match self.templates.compile(&text.value) {
            Ok(t) => t,
            Err(e) => {
                return self.error(
                    place,
                    format!("invalid template: {e}"),
                    Some("templates use minijinja syntax: {{ vars.name }}".into()),
                );
            }
        };
        let file = self.sources.file(place.origin).path.display();
        let template = match place.position {
            Some(p) => template.located(format!("{file}:{}:{}", p.line, p.column)),
            None => template.located(file.to_string()),
        };
        if place.origin == super::layer::Origin::Playbook {
            self.secrets.extend(self.templates.secret_names(&template));
        }
        let mut names: Vec<String> = self.templates.variables(&template).into_iter().collect();
        names.sort();
        self.steps_read.extend(
            names
                .iter()
                .filter(|n| n.split('.').next() == Some("steps"))
                .cloned(),
        );
        for name in &names {
            self.check_name(place, name, roots);
        }
        // A template over `vars` alone renders the same now as when the run needs it: one that
        // cannot be rendered at all (out of fuel, recursion too deep) is found here, by
        // `validate` too, before anything is sent.
        if !names.iter().all(|n| n.split('.').next() == Some("vars")) {
            return Some((template, None));
        }
        let ctx = context([("vars", self.vars)]);
        match self.templates.trial(&template, &ctx) {
            Trial::Broken(why) => self.error(
                place,
                format!("the template cannot be rendered: {why}"),
                Some(broken_help()),
            ),
            trial => Some((template, Some(trial))),
        }
    }

    /// Check one dotted name a template reads against the roots of its place, and the fields of
    /// `vars`, `task` and `steps` against what there is.
    fn check_name(&mut self, place: Place, name: &str, roots: &[&str]) {
        let mut parts = name.split('.');
        let root = parts.next().unwrap_or_default();
        let field = parts.next();
        if !roots.contains(&root) {
            let help = match did_you_mean(root, roots.iter().copied()) {
                Some(best) => format!(
                    "did you mean `{best}`? Here a template can use: {}",
                    roots.join(", ")
                ),
                None => format!("here a template can use: {}", roots.join(", ")),
            };
            self.error::<()>(
                place,
                format!("unknown variable `{root}` in template"),
                Some(help),
            );
            return;
        }
        let Some(field) = field else { return };
        let known: Vec<String> = match root {
            "vars" => self
                .vars
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            "task" => TASK_FIELDS.iter().map(|s| s.to_string()).collect(),
            "steps" => self.step_names.clone(),
            _ => return,
        };
        if !known.iter().any(|k| k == field) {
            let help = match did_you_mean(field, known.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{root}.{best}`?"),
                None if root == "steps" => {
                    "a template can refer only to steps before it, by name".to_string()
                }
                None if known.is_empty() => format!("there is no `{root}` here"),
                None => format!("known: {}", known.join(", ")),
            };
            self.error::<()>(
                place,
                format!("unknown variable `{root}.{field}`"),
                Some(help),
            );
        }
    }

    /// A template over `vars` (a setting's text) compiled and rendered now, to text: rendered once,
    /// by the check of [`Compiler::checked_template`], unless that found an error to tell.
    fn render_now(&mut self, text: &Spanned<String>) -> Option<Result<String, String>> {
        let (template, trial) = self.checked_template(text, ROOTS_CONNECTION)?;
        if let Some(Trial::Rendered(out)) = trial {
            return Some(Ok(out));
        }
        let ctx = context([("vars", self.vars)]);
        Some(
            self.templates
                .render(&template, &ctx)
                .map_err(|e| e.to_string()),
        )
    }

    /// `compile` of a setting the playbook may leave out: `Some(None)` when it is left out, `None`
    /// when compiling it recorded an error.
    fn optional<T, U>(
        &mut self,
        value: Option<&T>,
        compile: impl FnOnce(&mut Self, &T) -> Option<U>,
    ) -> Option<Option<U>> {
        match value {
            Some(v) => compile(self, v).map(Some),
            None => Some(None),
        }
    }

    fn jsonpath(&mut self, text: &Spanned<String>) -> Option<JsonPath> {
        JsonPath::parse(&text.value)
            .map_err(|e| self.error::<()>(self.sources.place(text), e, None))
            .ok()
    }

    /// A JSONPath given by the playbook, or else `default`.
    fn jsonpath_or(&mut self, text: &Option<Spanned<String>>, default: &str) -> Option<JsonPath> {
        match text {
            Some(text) => self.jsonpath(text),
            None => Some(constant_path(default)),
        }
    }

    fn jsonpaths(&mut self, paths: &Spanned<model::OneOrMany>) -> Option<Vec<JsonPath>> {
        let mut out = Vec::new();
        for text in paths.value.all() {
            out.push(self.jsonpath(&Spanned::new(text, paths.referenced, paths.defined))?);
        }
        Some(out)
    }

    fn predicate(&mut self, text: &Spanned<String>) -> Option<Predicate> {
        Predicate::parse(&text.value)
            .map_err(|e| self.error::<()>(self.sources.place(text), e, None))
            .ok()
    }

    /// A status list, rendering a template over `vars` now.
    fn statuses(&mut self, list: &Spanned<model::Statuses>) -> Option<Vec<String>> {
        match &list.value {
            model::Statuses::List(items) => Some(items.iter().map(|s| s.0.clone()).collect()),
            model::Statuses::Template(text) => {
                let spanned = Spanned::new(text.clone(), list.referenced, list.defined);
                let template = self.template(&spanned, ROOTS_CONNECTION)?;
                let ctx = context([("vars", self.vars)]);
                match self.templates.render_value(&template, &ctx) {
                    Ok(Value::Array(items)) => Some(
                        items
                            .iter()
                            .filter_map(crate::jsonpath::scalar_text)
                            .collect(),
                    ),
                    Ok(other) => Some(
                        crate::jsonpath::scalar_text(&other)
                            .unwrap_or_default()
                            .split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    ),
                    Err(e) => self.error(self.sources.place(list), e, None),
                }
            }
        }
    }

    /// A setting's text, rendered over `vars` now when it is a template (`since: "{{ vars.since }}"`).
    fn static_text(&mut self, text: &Spanned<String>) -> Option<String> {
        if !text.value.contains("{{") {
            return Some(text.value.clone());
        }
        match self.render_now(text)? {
            Ok(s) => Some(s),
            Err(e) => self.error(self.sources.place(text), e, None),
        }
    }

    fn span(&mut self, text: &Spanned<String>) -> Option<Span> {
        let value = self.static_text(text)?;
        Span::parse(&value)
            .map_err(|e| self.error::<()>(self.sources.place(text), e, None))
            .ok()
    }

    fn rate(&mut self, text: &Spanned<String>) -> Option<Rate> {
        let value = self.static_text(text)?;
        Rate::parse(&value)
            .map_err(|e| self.error::<()>(self.sources.place(text), e, None))
            .ok()
    }

    /// A span the playbook may give, else `default`.
    fn span_or(&mut self, text: &Option<Spanned<String>>, default: Duration) -> Option<Duration> {
        match text {
            Some(t) => Some(self.span(t)?.0),
            None => Some(default),
        }
    }

    /// A count, rendering a template over `vars` now: counts shape the run before it starts.
    fn count(&mut self, count: &Spanned<Count>, what: &str) -> Option<u64> {
        let place = self.sources.place(count);
        match &count.value {
            Count::Number(n) => Some(*n),
            Count::Template(text) => {
                let spanned = Spanned::new(text.clone(), count.referenced, count.defined);
                let rendered = match self.render_now(&spanned)? {
                    Ok(r) => r,
                    Err(e) => return self.error(place, format!("{what}: {e}"), None),
                };
                match rendered.trim().parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => self.error(
                        place,
                        format!("{what} must be a whole number, but `{text}` gave `{rendered}`"),
                        None,
                    ),
                }
            }
        }
    }

    fn step(&mut self, index: usize, step: &Spanned<model::Step>) -> Option<StepPlan> {
        let place = self.sources.place(step);
        let s = &step.value;
        let given = [
            s.fetch.is_some(),
            s.filter.is_some(),
            s.retry.is_some(),
            s.verify.is_some(),
            s.report.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return self.error(
                place,
                "a step needs exactly one of `fetch`, `filter`, `retry`, `verify` or `report`",
                Some("split it into one step per kind".into()),
            );
        }
        let kind_label = ["fetch", "filter", "retry", "verify", "report"]
            [given.iter().position(|g| *g).unwrap_or(0)];
        let name = match &s.name {
            Some(n) => n.clone(),
            None if self.step_names.iter().any(|e| e == kind_label) => {
                format!("{kind_label}-{}", index + 1)
            }
            None => kind_label.to_string(),
        };
        if self.step_names.contains(&name) {
            self.error::<()>(
                place,
                format!("two steps are named `{name}`"),
                Some("give each step its own name".into()),
            );
        }
        let at = StepAt {
            place,
            first: index == 0,
        };
        let kind = if let Some(f) = &s.fetch {
            StepKind::Fetch(Box::new(self.fetch(f, at)?))
        } else if let Some(f) = &s.filter {
            StepKind::Filter(self.filter(f, at)?)
        } else if let Some(r) = &s.retry {
            StepKind::Retry(Box::new(self.retry(r, at)?))
        } else if let Some(v) = &s.verify {
            StepKind::Verify(Box::new(self.verify(v, at)?))
        } else if let Some(r) = &s.report {
            StepKind::Report(self.report(r)?)
        } else {
            return None;
        };
        self.step_names.push(name.clone());
        Some(StepPlan {
            name,
            position: place.position,
            kind,
        })
    }

    /// The step whose items a step reads: its `input:`, or the previous step's (`None`).
    fn input(&mut self, input: &Option<Spanned<String>>, at: StepAt) -> Option<Option<String>> {
        match input {
            Some(name) if !self.step_names.contains(&name.value) => {
                let help =
                    match did_you_mean(&name.value, self.step_names.iter().map(String::as_str)) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "`input:` names a step before this one".to_string(),
                    };
                self.error(
                    self.sources.place(name),
                    format!("no step before this one is named `{}`", name.value),
                    Some(help),
                )
            }
            Some(name) => Some(Some(name.value.clone())),
            None if at.first => self.error(
                at.place,
                "this step has no items to work on",
                Some("put a `fetch` step before it".into()),
            ),
            None => Some(None),
        }
    }
}

/// A JSONPath written in this file, known to parse.
fn constant_path(path: &str) -> JsonPath {
    JsonPath::parse(path).unwrap_or_else(|e| unreachable!("the constant path {path}: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::secrets::{EnvSource, Redactor};
    use std::path::PathBuf;

    /// Compile a playbook of the generic adapter with `steps` (YAML under `steps:`).
    pub(crate) fn compile_steps(head: &str, steps: &str) -> Result<Plan, Vec<Diagnostic>> {
        compile_text(
            &format!("name: t\nprovider: http\n{head}steps:\n{steps}"),
            &[],
        )
    }

    /// Compile `text` as a playbook with `--var`s `overrides`.
    pub(crate) fn compile_text(
        text: &str,
        overrides: &[(String, String)],
    ) -> Result<Plan, Vec<Diagnostic>> {
        let file = Arc::new(SourceFile {
            path: PathBuf::from("p.yaml"),
            text: text.into(),
        });
        let playbook: Playbook = super::super::load::parse(&file).map_err(|d| vec![d])?;
        let provider = crate::providers::find(&playbook.provider.value).expect("a provider");
        let templates = Templates::new(
            Arc::new(EnvSource::from_pairs([])),
            Redactor::default(),
            jiff::Timestamp::now(),
        );
        compile(&file, playbook, provider, overrides, templates)
    }

    /// The messages of a playbook that does not compile.
    pub(crate) fn errors(result: Result<Plan, Vec<Diagnostic>>) -> Vec<String> {
        match result {
            Ok(_) => panic!("the playbook compiled"),
            Err(diags) => diags.into_iter().map(|d| d.message).collect(),
        }
    }

    pub(crate) const LIST: &str = "  - fetch: {request: {path: /tasks}}\n";

    #[test]
    fn a_playbook_without_steps_or_with_two_kinds_in_one_step_is_refused() {
        assert_eq!(
            errors(compile_steps("", "  []\n")),
            ["the playbook has no steps"]
        );
        assert_eq!(
            errors(compile_steps("", "  - {fetch: {ids: a}, filter: {}}\n")),
            ["a step needs exactly one of `fetch`, `filter`, `retry`, `verify` or `report`"]
        );
        assert_eq!(
            errors(compile_steps(
                "",
                "  - {name: a, fetch: {ids: a}}\n  - {name: a, fetch: {ids: b}}\n"
            )),
            ["two steps are named `a`"]
        );
    }

    #[test]
    fn a_template_reading_an_unknown_name_is_located() {
        let result = compile_steps("connection:\n  base_url: \"{{ item.x }}\"\n", LIST);
        let Err(diags) = result else {
            panic!("compiled")
        };
        assert_eq!(diags[0].message, "unknown variable `item` in template");
        assert_eq!(diags[0].position.map(|p| p.line), Some(4));
        assert_eq!(
            diags[0].help.as_deref(),
            Some("here a template can use: vars")
        );
    }

    #[test]
    fn secrets_used_are_those_of_the_playbooks_templates_only() {
        let text = "name: t\nprovider: deepwork\n# secret('IN_A_COMMENT')\ndescription: \"secret('IN_TEXT')\"\nconnection:\n  headers:\n    X-Key: \"{{ secret('MINE') }}{# secret('IN_A_TEMPLATE_COMMENT') #}\"\nsteps:\n  - fetch: {}\n  - retry: {request: {headers: {X-Other: \"{{ secret(\\\"OTHER\\\") }}\"}}}\n";
        let plan = compile_text(text, &[]).expect("a plan");
        let used: Vec<&str> = plan.secrets_used().iter().map(String::as_str).collect();
        assert_eq!(
            used,
            ["MINE", "OTHER"],
            "not DEEPWORK_TOKEN: the adapter checks its own"
        );
    }
}
