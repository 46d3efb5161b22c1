//! Compilation: a parsed playbook, the provider's defaults and the command line's `--var`s become a
//! [`Plan`] in which every template, JSONPath, duration and rate is compiled and every reference
//! (`vars.x`, `steps.y`, `input:`) checked. All problems are collected, each located in its file.
//! Nothing here touches the network.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::load::{parse, position_of};
use super::model::{self, Count, Defaults, Outcome, Playbook, Spanned};
use crate::diagnostic::{Diagnostic, Position, SourceFile, did_you_mean};
use crate::http::backoff::BackoffPolicy;
use crate::jsonpath::{JsonPath, Predicate};
use crate::providers::Provider;
use crate::template::{Template, Templates, Trial, context};
use crate::units::{Rate, Span};

/// Names a template may use, by where it stands.
const ROOTS_CONNECTION: &[&str] = &["vars"];
const ROOTS_LIST: &[&str] = &["vars", "steps"];
const ROOTS_ITEM: &[&str] = &["vars", "steps", "item", "task"];
const ROOTS_BATCH: &[&str] = &["vars", "steps", "items", "ids", "tasks"];
const ROOTS_REPORT: &[&str] = &["vars", "run"];
const ROOTS_NOTIFY: &[&str] = &["vars", "run", "summary"];
const ROOTS_NOTE: &[&str] = &["vars", "steps", "item", "task", "response"];
/// Names the request of a `fetch: each:` listing may use: the outer item as `item`.
const ROOTS_EACH: &[&str] = &["vars", "steps", "item"];
/// The fields of `task` in templates.
pub const TASK_FIELDS: &[&str] = &["id", "label", "status", "created_at", "message", "new_id"];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_PAGES: u32 = 100;
/// Most items one fetch step holds unless it says otherwise. Measured (debug build, issue 7): fetching
/// and retrying 50,000 items peaks at 310 MB of RSS (`/usr/bin/time -v`), where 1,000,000 items ran
/// out of memory; recovery runs are far smaller, and a larger one raises the cap knowingly.
pub const DEFAULT_MAX_ITEMS: u64 = 50_000;

/// A playbook ready to run.
pub struct Plan {
    pub name: String,
    pub guards: GuardsPlan,
    /// The playbook's `connection.options`, for the provider adapter.
    pub options: Map<String, Value>,
    pub description: Option<String>,
    pub file: Arc<SourceFile>,
    pub provider: Arc<dyn Provider>,
    pub vars: Value,
    pub connection: ConnectionPlan,
    pub steps: Vec<StepPlan>,
    pub templates: Templates,
    /// What `validate` and `play` show before anything is sent, without refusing the playbook.
    pub warnings: Vec<Diagnostic>,
}

/// Blast-radius guards and the circuit breaker.
#[derive(Clone, Debug, Default)]
pub struct GuardsPlan {
    pub max_selected: Option<u64>,
    pub max_selected_ratio: Option<f64>,
    pub max_consecutive_failures: Option<u32>,
    pub max_failure_ratio: Option<f64>,
    pub window: u32,
}

pub struct ConnectionPlan {
    pub base_url: Option<Template>,
    pub headers: Vec<(String, Template)>,
    pub rate: Option<Rate>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub backoff: BackoffPolicy,
    /// Which redirects a read follows (a retry follows none).
    pub redirects: crate::http::Redirects,
}

/// JSONPaths that read an item's common fields.
#[derive(Clone, Debug)]
pub struct FieldsPlan {
    pub id: JsonPath,
    pub label: Option<JsonPath>,
    pub status: Option<JsonPath>,
    pub created_at: Option<JsonPath>,
    pub message: Option<JsonPath>,
}

pub struct RequestPlan {
    pub method: reqwest::Method,
    pub target: Target,
    pub query: Vec<(String, Vec<Template>)>,
    pub headers: Vec<(String, Template)>,
    pub body: Option<BodyTemplate>,
}

pub enum Target {
    Path(Template),
    Url(Template),
}

/// A JSON body whose strings are templates.
pub enum BodyTemplate {
    Literal(Value),
    Text(Template),
    Array(Vec<BodyTemplate>),
    Object(Vec<(String, BodyTemplate)>),
}

pub struct StepPlan {
    pub name: String,
    pub position: Option<Position>,
    pub kind: StepKind,
}

pub enum StepKind {
    Fetch(Box<FetchPlan>),
    Filter(FilterPlan),
    Retry(Box<RetryPlan>),
    Verify(Box<VerifyPlan>),
    Report(ReportPlan),
}

impl StepKind {
    pub fn label(&self) -> &'static str {
        match self {
            StepKind::Fetch(_) => "fetch",
            StepKind::Filter(_) => "filter",
            StepKind::Retry(_) => "retry",
            StepKind::Verify(_) => "verify",
            StepKind::Report(_) => "report",
        }
    }
}

pub struct FetchPlan {
    pub source: FetchSource,
    /// Most items the step may fetch: more abort the run (`max_items`, default [`DEFAULT_MAX_ITEMS`]).
    pub max_items: u64,
    pub enrich: Option<EnrichPlan>,
    pub fields: FieldsPlan,
}

pub enum FetchSource {
    Http {
        request: Box<RequestPlan>,
        items: Vec<JsonPath>,
        total: Option<JsonPath>,
        paginate: Option<PaginatePlan>,
        /// The most items one answer holds (an answer holding that many may be truncated).
        cap: Option<u64>,
        /// A second listing per item found, whose items are the step's.
        each: Option<Box<ListingPlan>>,
    },
    File {
        path: Template,
        id_field: Option<String>,
    },
    Ids(Template),
}

/// One HTTP listing of `fetch: each:`.
pub struct ListingPlan {
    pub request: RequestPlan,
    pub items: Vec<JsonPath>,
    pub total: Option<JsonPath>,
    pub paginate: Option<PaginatePlan>,
    pub cap: Option<u64>,
}

pub struct PaginatePlan {
    pub style: PageStyle,
    pub max_pages: u32,
    /// Set when the listing is ordered newest first: where each item's time is.
    pub newest_first: Option<JsonPath>,
    /// With `newest_first`: paging stops after the first page whose items are all older than this.
    pub stop_before: Option<Span>,
}

pub enum PageStyle {
    Page {
        param: String,
        start: u64,
        size_param: Option<String>,
        size: Option<u64>,
    },
    Offset {
        param: String,
        limit_param: String,
        size: u64,
    },
    Cursor {
        param: String,
        in_body: bool,
        next: JsonPath,
    },
    NextLinkPath(JsonPath),
    NextLinkHeader(String),
}

pub struct EnrichPlan {
    pub request: RequestPlan,
    pub item: JsonPath,
    pub merge: bool,
    pub concurrency: usize,
}

pub struct FilterPlan {
    pub input: Option<String>,
    pub status_in: Option<Vec<String>>,
    pub status_not_in: Option<Vec<String>>,
    pub predicate: Option<Predicate>,
    pub since: Option<Span>,
    pub until: Option<Span>,
    pub time: Option<Template>,
    pub limit: Option<u64>,
}

pub struct RetryPlan {
    pub input: Option<String>,
    pub mode: RetryMode,
    pub concurrency: usize,
    pub rate: Option<Rate>,
    pub backoff: BackoffPolicy,
    pub outcome: OutcomePlan,
    /// Items whose status is not in this list are skipped without a request.
    pub only_status: Option<Vec<String>>,
    /// The statuses that mean "still failed": an item found in another one after an ambiguous
    /// retry was carried out.
    pub retryable: Option<Vec<String>>,
    /// Reads one item's current status.
    pub check: Option<EnrichPlan>,
    /// How to read an item's fields (its status after a check).
    pub fields: FieldsPlan,
    pub on_ambiguous: model::OnAmbiguous,
    /// At most `max` retries of a task within the span.
    pub budget: Option<(u32, Span)>,
    pub new_id: Option<JsonPath>,
    pub note: Option<Template>,
    /// A number the provider raises with each retry it carries out (Deep Work's `retry_count`).
    pub counter: Option<JsonPath>,
}

pub enum RetryMode {
    PerItem(RequestPlan),
    Batch { size: usize, request: RequestPlan },
}

pub struct OutcomePlan {
    pub status: BTreeMap<u16, Outcome>,
    pub message: Vec<JsonPath>,
    pub body: Vec<BodyRulePlan>,
    pub items: Option<ItemRulesPlan>,
    /// Statuses that may come after the provider acted: handled as `on_ambiguous` says.
    pub ambiguous: Vec<u16>,
    /// Answers that mean the server has no such route: the run stops.
    pub missing_route: Vec<MissingRoutePlan>,
}

/// An answer meaning "no such route" (a web framework's own 404).
pub struct MissingRoutePlan {
    pub status: Vec<u16>,
    pub when: Predicate,
    pub hint: Option<String>,
}

pub struct BodyRulePlan {
    /// Statuses the rule applies to; empty: any 2xx.
    pub status: Vec<u16>,
    pub when: Predicate,
    pub outcome: Outcome,
    pub message: Option<JsonPath>,
}

pub struct ItemRulesPlan {
    pub path: JsonPath,
    pub id: JsonPath,
    pub code: JsonPath,
    pub message: JsonPath,
    pub codes: BTreeMap<String, Outcome>,
    pub otherwise: Outcome,
    pub unlisted: Outcome,
}

pub struct VerifyPlan {
    pub input: Option<String>,
    pub read: EnrichPlan,
    pub fields: FieldsPlan,
    pub success: Vec<String>,
    pub failure: Vec<String>,
    pub every: Duration,
    pub timeout: Duration,
    pub rate: Option<Rate>,
}

pub struct ReportPlan {
    pub files: Vec<Template>,
    pub title: Option<String>,
    pub notify: Option<crate::playbook::notify::NotifyPlan>,
}

/// Compile `playbook` (read from `file`) with `overrides` from `--var`.
pub fn compile(
    file: &Arc<SourceFile>,
    playbook: Playbook,
    provider: Arc<dyn Provider>,
    overrides: &[(String, String)],
    mut templates: Templates,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let defaults_file = Arc::new(SourceFile {
        path: format!("<built-in {} adapter>", provider.name()).into(),
        text: provider
            .defaults_yaml(&playbook.connection.options)
            .map_err(|e| vec![Diagnostic::new(e)])?,
    });
    let defaults: Defaults = if defaults_file.text.trim().is_empty() {
        Defaults::default()
    } else {
        parse(&defaults_file).map_err(|d| vec![d])?
    };
    let vars = resolve_vars(file, &playbook, overrides, &mut diags);
    let mut c = Compiler {
        templates: &mut templates,
        playbook: &playbook.name.value,
        diags,
        warnings: Vec::new(),
        vars: &vars,
        step_names: Vec::new(),
        selected_statuses: (!provider.default_retryable().is_empty()).then(|| {
            provider
                .default_retryable()
                .iter()
                .map(|s| s.to_string())
                .collect()
        }),
        task_fields: None,
    };

    let connection = c.connection(
        file,
        &playbook.connection,
        &defaults_file,
        &defaults.connection,
    );
    let fields = c.fields(file, &playbook.task, &defaults_file, &defaults.task);
    c.task_fields = Some(fields.clone());

    let mut steps = Vec::new();
    for (index, step) in playbook.steps.iter().enumerate() {
        if let Some(plan) = c.step(
            file,
            index,
            step,
            &fields,
            &connection.backoff,
            &defaults_file,
            &defaults,
            provider.as_ref(),
        ) {
            steps.push(plan);
        }
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
    if !diags.is_empty() {
        return Err(diags);
    }
    stop_before_from_filters(&mut steps);
    let g = &playbook.guards;
    let guards = GuardsPlan {
        max_selected: g.max_selected,
        max_selected_ratio: g.max_selected_ratio,
        max_consecutive_failures: g.max_consecutive_failures,
        max_failure_ratio: g.max_failure_ratio,
        window: g.window.unwrap_or(20).max(1),
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
    })
}

/// A listing ordered newest first with no `stop_before` of its own stops paging at the window of
/// the filter that reads it: the one step reading the fetch's items must be a filter whose `since`
/// looks at the items' own time (no `time:` template, which could read another field).
fn stop_before_from_filters(steps: &mut [StepPlan]) {
    for i in 0..steps.len() {
        let StepKind::Fetch(fetch) = &steps[i].kind else {
            continue;
        };
        let FetchSource::Http {
            paginate: Some(p), ..
        } = &fetch.source
        else {
            continue;
        };
        if p.newest_first.is_none() || p.stop_before.is_some() {
            continue;
        }
        let name = steps[i].name.as_str();
        let readers: Vec<&StepPlan> = steps[i + 1..]
            .iter()
            .enumerate()
            .filter(|(k, s)| {
                let input = match &s.kind {
                    StepKind::Filter(f) => f.input.as_deref(),
                    StepKind::Retry(r) => r.input.as_deref(),
                    StepKind::Verify(v) => v.input.as_deref(),
                    _ => return false,
                };
                input == Some(name) || (input.is_none() && *k == 0)
            })
            .map(|(_, s)| s)
            .collect();
        let since = match readers.as_slice() {
            [
                StepPlan {
                    kind: StepKind::Filter(f),
                    ..
                },
            ] if f.time.is_none() => f.since,
            _ => None,
        };
        if let StepKind::Fetch(fetch) = &mut steps[i].kind
            && let FetchSource::Http {
                paginate: Some(p), ..
            } = &mut fetch.source
        {
            p.stop_before = since;
        }
    }
}

/// How to fix a template that cannot be rendered whatever the data.
fn broken_help() -> String {
    format!(
        "a template may run {} instructions and nest calls {} deep: look for a loop or a macro that does not end",
        crate::template::FUEL,
        crate::template::RECURSION_LIMIT
    )
}

/// The playbook's `vars` with `--var` overrides, each coerced to its default's type.
fn resolve_vars(
    file: &Arc<SourceFile>,
    playbook: &Playbook,
    overrides: &[(String, String)],
    diags: &mut Vec<Diagnostic>,
) -> Value {
    let mut vars: Map<String, Value> = playbook.vars.clone();
    for (key, text) in overrides {
        let Some(default) = vars.get(key) else {
            let declared: Vec<&str> = playbook.vars.keys().map(String::as_str).collect();
            let help = match did_you_mean(key, declared.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None if declared.is_empty() => "this playbook declares no vars".to_string(),
                None => format!("this playbook's vars are: {}", declared.join(", ")),
            };
            diags.push(
                Diagnostic::new(format!("--var {key}: the playbook has no variable `{key}`"))
                    .at(file, None)
                    .help(help),
            );
            continue;
        };
        let value = match default {
            Value::Number(_) => text
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| text.parse::<f64>().map(Value::from))
                .map_err(|_| format!("--var {key}={text}: `{key}` is a number")),
            Value::Bool(_) => text
                .parse::<bool>()
                .map(Value::from)
                .map_err(|_| format!("--var {key}={text}: `{key}` is true or false")),
            Value::Array(_) => Ok(Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.into()))
                    .collect(),
            )),
            _ => Ok(Value::String(text.clone())),
        };
        match value {
            Ok(v) => {
                vars.insert(key.clone(), v);
            }
            Err(e) => diags.push(Diagnostic::new(e).at(file, None)),
        }
    }
    Value::Object(vars)
}

struct Compiler<'a> {
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
}

impl Compiler<'_> {
    fn error<T>(
        &mut self,
        file: &Arc<SourceFile>,
        at: Option<Position>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Option<T> {
        let mut d = Diagnostic::new(message).at(file, at);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.diags.push(d);
        None
    }

    /// Compile a template and check the names it reads against `roots`.
    fn template(
        &mut self,
        file: &Arc<SourceFile>,
        text: &Spanned<String>,
        roots: &[&str],
    ) -> Option<Template> {
        let at = position_of(text);
        let template = match self.templates.compile(&text.value) {
            Ok(t) => t,
            Err(e) => {
                return self.error(
                    file,
                    at,
                    format!("invalid template: {e}"),
                    Some("templates use minijinja syntax: {{ vars.name }}".into()),
                );
            }
        };
        let template = match at {
            Some(p) => template.located(format!("{}:{}:{}", file.path.display(), p.line, p.column)),
            None => template.located(file.path.display().to_string()),
        };
        let mut names: Vec<String> = self.templates.variables(&template).into_iter().collect();
        names.sort();
        for name in &names {
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
                    file,
                    at,
                    format!("unknown variable `{root}` in template"),
                    Some(help),
                );
                continue;
            }
            let Some(field) = field else { continue };
            let known: Vec<String> = match root {
                "vars" => self
                    .vars
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
                "task" => TASK_FIELDS.iter().map(|s| s.to_string()).collect(),
                "steps" => self.step_names.clone(),
                _ => continue,
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
                    file,
                    at,
                    format!("unknown variable `{root}.{field}`"),
                    Some(help),
                );
            }
        }
        // A template over `vars` alone renders the same now as when the run needs it: one that
        // cannot be rendered at all (out of fuel, recursion too deep) is found here, by
        // `validate` too, before anything is sent.
        if names.iter().all(|n| n.split('.').next() == Some("vars")) {
            let ctx = context([("vars", self.vars)]);
            if let Trial::Broken(why) = self.templates.trial(&template, &ctx) {
                return self.error(
                    file,
                    at,
                    format!("the template cannot be rendered: {why}"),
                    Some(broken_help()),
                );
            }
        }
        Some(template)
    }

    fn jsonpath(&mut self, file: &Arc<SourceFile>, text: &Spanned<String>) -> Option<JsonPath> {
        JsonPath::parse(&text.value)
            .map_err(|e| self.error::<()>(file, position_of(text), e, None))
            .ok()
    }

    /// A status list, rendering a template over `vars` now.
    fn statuses(
        &mut self,
        file: &Arc<SourceFile>,
        list: &Spanned<model::Statuses>,
    ) -> Option<Vec<String>> {
        match &list.value {
            model::Statuses::List(items) => Some(items.iter().map(|s| s.0.clone()).collect()),
            model::Statuses::Template(text) => {
                let spanned = Spanned::new(text.clone(), list.referenced, list.defined);
                let template = self.template(file, &spanned, ROOTS_CONNECTION)?;
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
                    Err(e) => self.error(file, position_of(list), e, None),
                }
            }
        }
    }

    fn jsonpaths(
        &mut self,
        file: &Arc<SourceFile>,
        paths: &Spanned<model::OneOrMany>,
    ) -> Option<Vec<JsonPath>> {
        let mut out = Vec::new();
        for text in paths.value.all() {
            out.push(self.jsonpath(file, &Spanned::new(text, paths.referenced, paths.defined))?);
        }
        Some(out)
    }

    fn predicate(&mut self, file: &Arc<SourceFile>, text: &Spanned<String>) -> Option<Predicate> {
        Predicate::parse(&text.value)
            .map_err(|e| self.error::<()>(file, position_of(text), e, None))
            .ok()
    }

    /// A setting's text, rendered over `vars` now when it is a template (`since: "{{ vars.since }}"`).
    fn static_text(&mut self, file: &Arc<SourceFile>, text: &Spanned<String>) -> Option<String> {
        if !text.value.contains("{{") {
            return Some(text.value.clone());
        }
        let template = self.template(file, text, ROOTS_CONNECTION)?;
        let ctx = context([("vars", self.vars)]);
        match self.templates.render(&template, &ctx) {
            Ok(r) => Some(r),
            Err(e) => self.error(file, position_of(text), e, None),
        }
    }

    fn span(&mut self, file: &Arc<SourceFile>, text: &Spanned<String>) -> Option<Span> {
        let value = self.static_text(file, text)?;
        Span::parse(&value)
            .map_err(|e| self.error::<()>(file, position_of(text), e, None))
            .ok()
    }

    fn rate(&mut self, file: &Arc<SourceFile>, text: &Spanned<String>) -> Option<Rate> {
        let value = self.static_text(file, text)?;
        Rate::parse(&value)
            .map_err(|e| self.error::<()>(file, position_of(text), e, None))
            .ok()
    }

    /// A count, rendering a template over `vars` now: counts shape the run before it starts.
    fn count(&mut self, file: &Arc<SourceFile>, count: &Spanned<Count>, what: &str) -> Option<u64> {
        let at = position_of(count);
        match &count.value {
            Count::Number(n) => Some(*n),
            Count::Template(text) => {
                let spanned = Spanned::new(text.clone(), count.referenced, count.defined);
                let template = self.template(file, &spanned, ROOTS_CONNECTION)?;
                let ctx = context([("vars", self.vars)]);
                let rendered = match self.templates.render(&template, &ctx) {
                    Ok(r) => r,
                    Err(e) => return self.error(file, at, format!("{what}: {e}"), None),
                };
                match rendered.trim().parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => self.error(
                        file,
                        at,
                        format!("{what} must be a whole number, but `{text}` gave `{rendered}`"),
                        None,
                    ),
                }
            }
        }
    }

    fn connection(
        &mut self,
        file: &Arc<SourceFile>,
        c: &model::Connection,
        dfile: &Arc<SourceFile>,
        d: &model::Connection,
    ) -> ConnectionPlan {
        let base_url = match (&c.base_url, &d.base_url) {
            (Some(b), _) => self.template(file, b, ROOTS_CONNECTION),
            (None, Some(b)) => self.template(dfile, b, ROOTS_CONNECTION),
            (None, None) => None,
        };
        let mut headers = Vec::new();
        for (name, value) in &d.headers {
            let overridden = c.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
            if let Some(t) = (!overridden)
                .then(|| self.template(dfile, value, ROOTS_CONNECTION))
                .flatten()
            {
                headers.push((name.clone(), t));
            }
        }
        for (name, value) in &c.headers {
            // Constant text is checked here, so `validate` catches a header that can never be
            // sent (a line break in it); a rendered one is checked before the first request.
            let constant = !value.value.contains("{{") && !value.value.contains("{%");
            if let (true, Err(e)) = (constant, crate::http::header_pair(name, &value.value)) {
                let help = "write the value on one line, without control characters".to_string();
                self.error::<()>(
                    file,
                    position_of(value),
                    format!("connection.headers.{name}: {e}"),
                    Some(help),
                );
                continue;
            }
            if let Some(t) = self.template(file, value, ROOTS_CONNECTION) {
                headers.push((name.clone(), t));
            }
        }
        let rate = match (&c.rate, &d.rate) {
            (Some(r), _) => self.rate(file, r),
            (None, Some(r)) => self.rate(dfile, r),
            _ => None,
        };
        let timeout = c
            .timeout
            .as_ref()
            .and_then(|t| self.span(file, t))
            .map_or(DEFAULT_TIMEOUT, |s| s.0);
        let connect_timeout = c
            .connect_timeout
            .as_ref()
            .and_then(|t| self.span(file, t))
            .map_or(DEFAULT_CONNECT_TIMEOUT, |s| s.0);
        let base = self.backoff(dfile, d.backoff.as_ref(), BackoffPolicy::default());
        let backoff = self.backoff(file, c.backoff.as_ref(), base);
        let redirects = match c.redirects.or(d.redirects) {
            None | Some(model::RedirectRule::SameOrigin) => crate::http::Redirects::SameOrigin,
            Some(model::RedirectRule::Any) => crate::http::Redirects::Any,
            Some(model::RedirectRule::None) => crate::http::Redirects::None,
        };
        ConnectionPlan {
            base_url,
            headers,
            rate,
            timeout,
            connect_timeout,
            backoff,
            redirects,
        }
    }

    fn backoff(
        &mut self,
        file: &Arc<SourceFile>,
        b: Option<&model::Backoff>,
        mut policy: BackoffPolicy,
    ) -> BackoffPolicy {
        let Some(b) = b else { return policy };
        if let Some(n) = b.attempts {
            policy.attempts = n.max(1);
        }
        if let Some(s) = b.initial.as_ref().and_then(|s| self.span(file, s)) {
            policy.initial = s.0;
        }
        if let Some(s) = b.max.as_ref().and_then(|s| self.span(file, s)) {
            policy.max = s.0;
        }
        if let Some(s) = b.max_retry_after.as_ref().and_then(|s| self.span(file, s)) {
            policy.max_retry_after = s.0;
        }
        if let Some(list) = &b.on_status {
            policy.on_status = list.clone();
        }
        policy
    }

    fn fields(
        &mut self,
        file: &Arc<SourceFile>,
        t: &model::TaskFields,
        dfile: &Arc<SourceFile>,
        d: &model::TaskFields,
    ) -> FieldsPlan {
        let mut pick = |own: &Option<Spanned<String>>,
                        dflt: &Option<Spanned<String>>,
                        fallback: Option<&str>|
         -> Option<JsonPath> {
            match (own, dflt) {
                (Some(p), _) => self.jsonpath(file, p),
                (None, Some(p)) => self.jsonpath(dfile, p),
                (None, None) => fallback.and_then(|f| JsonPath::parse(f).ok()),
            }
        };
        let id = pick(&t.id, &d.id, Some("$.id"));
        let label = pick(&t.label, &d.label, None);
        let status = pick(&t.status, &d.status, Some("$.status"));
        let created_at = pick(&t.created_at, &d.created_at, Some("$.created_at"));
        let message = pick(&t.message, &d.message, None);
        FieldsPlan {
            id: id.unwrap_or_else(|| JsonPath::parse("$.id").expect("a constant path")),
            label,
            status,
            created_at,
            message,
        }
    }

    /// A request's `path:` or `url:` (`key`), compiled so that the item values in it are checked
    /// against its shape when the request is built; a warning for each item value that goes into
    /// the path unencoded.
    fn path_template(
        &mut self,
        file: &Arc<SourceFile>,
        text: &Spanned<String>,
        roots: &[&str],
        key: &str,
    ) -> Option<Template> {
        let plain = self.template(file, text, roots)?;
        let at = position_of(text);
        let (template, expressions) = match self.templates.path_template(&plain) {
            Ok(compiled) => compiled,
            Err(e) => return self.error(file, at, format!("invalid `{key}`: {e}"), None),
        };
        for e in expressions.iter().filter(|e| e.in_path && !e.encoded) {
            self.warnings.push(
                Diagnostic::warning(format!(
                    "`{{{{ {} }}}}` goes into the request {key} unencoded: an item whose value holds `/`, `?` or `#` (`a/b`, `../x`) is refused rather than sent",
                    e.source
                ))
                .at(file, at)
                .help(format!(
                    "write `{{{{ {} | urlencode }}}}`: it encodes `/`, `?`, `#`, `%` and every other reserved character, so the value stays one path segment",
                    e.source
                )),
            );
        }
        Some(template)
    }

    fn request(
        &mut self,
        file: &Arc<SourceFile>,
        r: &model::Request,
        roots: &[&str],
        default_method: &str,
        at: Option<Position>,
    ) -> Option<RequestPlan> {
        let method_text = r
            .method
            .as_deref()
            .unwrap_or(default_method)
            .to_ascii_uppercase();
        let method = match reqwest::Method::from_bytes(method_text.as_bytes()) {
            Ok(m) if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&m.as_str()) => m,
            _ => {
                return self.error(
                    file,
                    at,
                    format!("unknown HTTP method `{method_text}`"),
                    Some("use GET, POST, PUT, PATCH or DELETE".into()),
                );
            }
        };
        let target = match (&r.path, &r.url) {
            (Some(p), None) => Target::Path(self.path_template(file, p, roots, "path")?),
            (None, Some(u)) => Target::Url(self.path_template(file, u, roots, "url")?),
            (Some(_), Some(u)) => {
                return self.error(
                    file,
                    position_of(u),
                    "a request has `path` or `url`, not both",
                    None,
                );
            }
            (None, None) => {
                return self.error(
                    file,
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
                compiled.extend(self.template(file, &spanned, roots));
            }
            query.push((name.clone(), compiled));
        }
        let mut headers = Vec::new();
        for (name, value) in &r.headers {
            headers.extend(self.template(file, value, roots).map(|t| (name.clone(), t)));
        }
        let body = r.body.as_ref().map(|b| self.body(file, &b.value, b, roots));
        Some(RequestPlan {
            method,
            target,
            query,
            headers,
            body,
        })
    }

    fn body(
        &mut self,
        file: &Arc<SourceFile>,
        value: &Value,
        at: &Spanned<Value>,
        roots: &[&str],
    ) -> BodyTemplate {
        match value {
            Value::String(s) if s.contains("{{") || s.contains("{%") => {
                let spanned = Spanned::new(s.clone(), at.referenced, at.defined);
                match self.template(file, &spanned, roots) {
                    Some(t) => BodyTemplate::Text(t),
                    None => BodyTemplate::Literal(Value::Null),
                }
            }
            Value::Array(items) => BodyTemplate::Array(
                items
                    .iter()
                    .map(|v| self.body(file, v, at, roots))
                    .collect(),
            ),
            Value::Object(map) => BodyTemplate::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.body(file, v, at, roots)))
                    .collect(),
            ),
            other => BodyTemplate::Literal(other.clone()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        file: &Arc<SourceFile>,
        index: usize,
        step: &Spanned<model::Step>,
        fields: &FieldsPlan,
        backoff: &BackoffPolicy,
        dfile: &Arc<SourceFile>,
        defaults: &Defaults,
        provider: &dyn Provider,
    ) -> Option<StepPlan> {
        let at = position_of(step);
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
                file,
                at,
                "a step needs exactly one of `fetch`, `filter`, `retry`, `verify` or `report`",
                Some("split it into one step per kind".into()),
            );
        }
        let kind_label = ["fetch", "filter", "retry", "verify", "report"]
            [given.iter().position(|g| *g).unwrap_or(0)];
        let name = match &s.name {
            Some(n) => n.clone(),
            None if self
                .step_names
                .iter()
                .any(|existing| existing == kind_label) =>
            {
                format!("{kind_label}-{}", index + 1)
            }
            None => kind_label.to_string(),
        };
        if self.step_names.contains(&name) {
            self.error::<()>(
                file,
                at,
                format!("two steps are named `{name}`"),
                Some("give each step its own name".into()),
            );
        }
        let first = index == 0;
        let kind = if let Some(f) = &s.fetch {
            StepKind::Fetch(Box::new(self.fetch(file, f, fields, dfile, defaults, at)?))
        } else if let Some(f) = &s.filter {
            StepKind::Filter(self.filter(file, f, provider, first, at)?)
        } else if let Some(r) = &s.retry {
            StepKind::Retry(Box::new(self.retry(
                file,
                r,
                backoff,
                dfile,
                defaults,
                first,
                at,
                provider.guards_status(),
            )?))
        } else if let Some(v) = &s.verify {
            StepKind::Verify(Box::new(self.verify(file, v, dfile, defaults, first, at)?))
        } else if let Some(r) = &s.report {
            StepKind::Report(self.report(file, r)?)
        } else {
            return None;
        };
        self.step_names.push(name.clone());
        Some(StepPlan {
            name,
            position: at,
            kind,
        })
    }

    fn input(
        &mut self,
        file: &Arc<SourceFile>,
        input: &Option<Spanned<String>>,
        first: bool,
        at: Option<Position>,
    ) -> Option<Option<String>> {
        match input {
            Some(name) if !self.step_names.contains(&name.value) => {
                let help =
                    match did_you_mean(&name.value, self.step_names.iter().map(String::as_str)) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "`input:` names a step before this one".to_string(),
                    };
                self.error(
                    file,
                    position_of(name),
                    format!("no step before this one is named `{}`", name.value),
                    Some(help),
                )
            }
            Some(name) => Some(Some(name.value.clone())),
            None if first => self.error(
                file,
                at,
                "this step has no items to work on",
                Some("put a `fetch` step before it".into()),
            ),
            None => Some(None),
        }
    }

    fn fetch(
        &mut self,
        file: &Arc<SourceFile>,
        f: &model::Fetch,
        fields: &FieldsPlan,
        dfile: &Arc<SourceFile>,
        defaults: &Defaults,
        at: Option<Position>,
    ) -> Option<FetchPlan> {
        let fields = match &f.fields {
            Some(own) => {
                let none = model::TaskFields::default();
                let mut plan = self.fields(file, own, file, &none);
                if own.id.is_none() {
                    plan.id = fields.id.clone();
                }
                plan.label = plan.label.or_else(|| fields.label.clone());
                plan.message = plan.message.or_else(|| fields.message.clone());
                plan
            }
            None => fields.clone(),
        };
        let sources = [f.request.is_some(), f.file.is_some(), f.ids.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if sources > 1 {
            return self.error(
                file,
                at,
                "a fetch takes items from one of `request`, `file` or `ids`",
                None,
            );
        }
        if let (Some(stop), true) = (&f.stop_before, f.file.is_some() || f.ids.is_some()) {
            return self.error(
                file,
                position_of(stop),
                "`stop_before` stops paging a listing; ids from `file` or `ids` are not paged",
                Some("remove `stop_before`".into()),
            );
        }
        let source = if let Some(path) = &f.file {
            FetchSource::File {
                path: self.template(file, path, ROOTS_LIST)?,
                id_field: f.id_field.clone(),
            }
        } else if let Some(ids) = &f.ids {
            FetchSource::Ids(self.template(file, ids, ROOTS_LIST)?)
        } else {
            // A fetch naming its own route takes nothing from the adapter's listing: its query,
            // items path, total, pagination and cap belong to the adapter's route.
            let own_route = f
                .request
                .as_ref()
                .is_some_and(|r| r.path.is_some() || r.url.is_some());
            let d = defaults.fetch.as_ref().filter(|_| !own_route);
            let merged;
            let (rfile, request) = match (&f.request, d.and_then(|d| d.request.as_ref())) {
                (Some(r), Some(dr)) => {
                    merged = r.over(dr);
                    (file, &merged)
                }
                (Some(r), None) => (file, r),
                (None, Some(r)) => (dfile, r),
                (None, None) => {
                    return self.error(
                        file,
                        at,
                        "this fetch has no `request`, `file` or `ids`",
                        Some("add `request: {path: /tasks}` and `items: $.tasks[*]`".into()),
                    );
                }
            };
            let request = self.request(rfile, request, ROOTS_LIST, "GET", at)?;
            let items = match (&f.items, d.and_then(|d| d.items.as_ref())) {
                (Some(p), _) => self.jsonpaths(file, p)?,
                (None, Some(p)) => self.jsonpaths(dfile, p)?,
                (None, None) => vec![JsonPath::parse("$[*]").expect("a constant path")],
            };
            let total = match (&f.total, d.and_then(|d| d.total.as_ref())) {
                (Some(p), _) => Some(self.jsonpath(file, p)?),
                (None, Some(p)) => Some(self.jsonpath(dfile, p)?),
                (None, None) => None,
            };
            let created_at = fields.created_at.as_ref();
            let mut paginate = match (&f.paginate, d.and_then(|d| d.paginate.as_ref())) {
                (Some(p), dp) => {
                    let mut plan = self.paginate(file, p, at, created_at)?;
                    // The API's order is the adapter's knowledge: a playbook that pages its own
                    // way keeps it unless it says otherwise.
                    if let (None, Some(dp)) = (p.order, dp.filter(|dp| dp.order.is_some())) {
                        plan.newest_first = self.paginate(dfile, dp, at, created_at)?.newest_first;
                    }
                    Some(plan)
                }
                (None, Some(p)) => Some(self.paginate(dfile, p, at, created_at)?),
                (None, None) => None,
            };
            if let Some(stop) = &f.stop_before {
                match paginate.as_mut().filter(|p| p.newest_first.is_some()) {
                    Some(p) => p.stop_before = Some(self.span(file, stop)?),
                    None => {
                        return self.error(
                            file,
                            position_of(stop),
                            "`stop_before` stops paging a listing ordered newest first, and this one is not",
                            Some(
                                "add `order: newest_first` (and `time:`) to `paginate`, if the API sorts so".into(),
                            ),
                        );
                    }
                }
            }
            let cap = f.cap.or_else(|| d.and_then(|d| d.cap));
            if cap.is_some() && paginate.is_some() {
                return self.error(
                    file,
                    at,
                    "`cap` is for a listing without pagination (a paged listing goes on to the next page)",
                    Some("remove `cap:` or `paginate:`".into()),
                );
            }
            let each = match &f.each {
                Some(e) => Some(Box::new(self.listing(file, e, at)?)),
                None => None,
            };
            FetchSource::Http {
                request: Box::new(request),
                items,
                total,
                paginate,
                cap,
                each,
            }
        };
        if !matches!(source, FetchSource::Http { .. }) && (f.cap.is_some() || f.each.is_some()) {
            return self.error(
                file,
                at,
                "`cap` and `each` are for a fetch with a `request`, not `file` or `ids`",
                None,
            );
        }
        let enrich = match &f.enrich {
            Some(e) => Some(self.enrich(file, e, dfile, defaults.get.as_ref(), at)?),
            None => None,
        };
        let max_items = match &f.max_items {
            Some(m) => match self.count(file, m, "max_items")? {
                0 => return self.error(file, position_of(m), "max_items must be at least 1", None),
                n => n,
            },
            None => DEFAULT_MAX_ITEMS,
        };
        Some(FetchPlan {
            source,
            max_items,
            enrich,
            fields,
        })
    }

    /// The second listing of `fetch: each:`.
    fn listing(
        &mut self,
        file: &Arc<SourceFile>,
        l: &model::Listing,
        at: Option<Position>,
    ) -> Option<ListingPlan> {
        let request = self.request(file, &l.request, ROOTS_EACH, "GET", at)?;
        let items = match &l.items {
            Some(p) => self.jsonpaths(file, p)?,
            None => vec![JsonPath::parse("$[*]").expect("a constant path")],
        };
        let total = match &l.total {
            Some(p) => Some(self.jsonpath(file, p)?),
            None => None,
        };
        let paginate = match &l.paginate {
            Some(p) => Some(self.paginate(file, p, at, None)?),
            None => None,
        };
        if l.cap.is_some() && paginate.is_some() {
            return self.error(
                file,
                at,
                "`cap` is for a listing without pagination (a paged listing goes on to the next page)",
                Some("remove `cap:` or `paginate:` in `each:`".into()),
            );
        }
        Some(ListingPlan {
            request,
            items,
            total,
            paginate,
            cap: l.cap,
        })
    }

    fn enrich(
        &mut self,
        file: &Arc<SourceFile>,
        e: &model::Enrich,
        dfile: &Arc<SourceFile>,
        default: Option<&model::Enrich>,
        at: Option<Position>,
    ) -> Option<EnrichPlan> {
        let request = match (&e.request, default.and_then(|d| d.request.as_ref())) {
            (Some(r), Some(d)) => self.request(file, &r.over(d), ROOTS_ITEM, "GET", at)?,
            (Some(r), None) => self.request(file, r, ROOTS_ITEM, "GET", at)?,
            (None, Some(d)) => self.request(dfile, d, ROOTS_ITEM, "GET", at)?,
            (None, None) => {
                return self.error(
                    file,
                    at,
                    "this enrich has no `request`, and the provider has no get-one request",
                    Some("add `request: {path: \"/tasks/{{ task.id }}\"}`".into()),
                );
            }
        };
        let item = match (&e.item, default.and_then(|d| d.item.as_ref())) {
            (Some(p), _) => self.jsonpath(file, p)?,
            (None, Some(p)) if e.request.is_none() => self.jsonpath(dfile, p)?,
            _ => JsonPath::parse("$").expect("a constant path"),
        };
        let concurrency = match &e.concurrency {
            Some(c) => self
                .count(
                    file,
                    &Spanned::new(
                        c.clone(),
                        serde_saphyr::Location::UNKNOWN,
                        serde_saphyr::Location::UNKNOWN,
                    ),
                    "concurrency",
                )?
                .max(1) as usize,
            None => 1,
        };
        Some(EnrichPlan {
            request,
            item,
            merge: e.merge.unwrap_or(true),
            concurrency,
        })
    }

    fn paginate(
        &mut self,
        file: &Arc<SourceFile>,
        p: &model::Paginate,
        at: Option<Position>,
        created_at: Option<&JsonPath>,
    ) -> Option<PaginatePlan> {
        let styles = [
            p.page.is_some(),
            p.offset.is_some(),
            p.cursor.is_some(),
            p.next_link.is_some(),
        ];
        if styles.iter().filter(|s| **s).count() != 1 {
            return self.error(
                file,
                at,
                "`paginate` needs exactly one of `page`, `offset`, `cursor` or `next_link`",
                None,
            );
        }
        let style = if let Some(page) = &p.page {
            PageStyle::Page {
                param: page.param.clone().unwrap_or_else(|| "page".into()),
                start: page.start.unwrap_or(1),
                size_param: page.size_param.clone(),
                size: page.size,
            }
        } else if let Some(o) = &p.offset {
            PageStyle::Offset {
                param: o.param.clone().unwrap_or_else(|| "offset".into()),
                limit_param: o.limit_param.clone().unwrap_or_else(|| "limit".into()),
                size: o.size.unwrap_or(50).max(1),
            }
        } else if let Some(c) = &p.cursor {
            PageStyle::Cursor {
                param: c.param.clone().unwrap_or_else(|| "cursor".into()),
                in_body: c.location == Some(model::CursorLocation::Body),
                next: self.jsonpath(file, &c.next)?,
            }
        } else {
            let link = p.next_link.as_ref()?;
            match (&link.path, &link.header) {
                (Some(path), None) => PageStyle::NextLinkPath(self.jsonpath(file, path)?),
                (None, Some(header)) => PageStyle::NextLinkHeader(header.to_ascii_lowercase()),
                _ => {
                    return self.error(
                        file,
                        at,
                        "`next_link` takes one of `path` (a JSONPath) or `header` (e.g. link)",
                        None,
                    );
                }
            }
        };
        let max_pages = p.max_pages.unwrap_or(DEFAULT_MAX_PAGES).max(1);
        let newest_first = match (p.order.unwrap_or_default(), &p.time) {
            (model::ListOrder::Unordered, Some(time)) => {
                return self.error(
                    file,
                    position_of(time),
                    "`paginate.time` is the time a listing is ordered by: it needs `order: newest_first`",
                    Some("add `order: newest_first`, or remove `time:`".into()),
                );
            }
            (model::ListOrder::Unordered, None) => None,
            (model::ListOrder::NewestFirst, Some(time)) => Some(self.jsonpath(file, time)?),
            (model::ListOrder::NewestFirst, None) => match created_at {
                Some(path) => Some(path.clone()),
                None => {
                    return self.error(
                        file,
                        at,
                        "`order: newest_first` needs the time the listing is ordered by",
                        Some("add `time: $.created_at` (a JSONPath) to `paginate`".into()),
                    );
                }
            },
        };
        Some(PaginatePlan {
            style,
            max_pages,
            newest_first,
            stop_before: None,
        })
    }

    fn filter(
        &mut self,
        file: &Arc<SourceFile>,
        f: &model::Filter,
        provider: &dyn Provider,
        first: bool,
        at: Option<Position>,
    ) -> Option<FilterPlan> {
        let input = self.input(file, &f.input, first, at)?;
        let mut status_in = match &f.status_in {
            Some(l) => Some(self.statuses(file, l)?),
            None => None,
        };
        let status_not_in = match &f.status_not_in {
            Some(l) => Some(self.statuses(file, l)?),
            None => None,
        };
        if status_in.is_none()
            && status_not_in.is_none()
            && !provider.default_retryable().is_empty()
        {
            status_in = Some(
                provider
                    .default_retryable()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            );
        }
        let predicate = match &f.where_ {
            Some(w) => Some(self.predicate(file, w)?),
            None => None,
        };
        let since = match &f.since {
            Some(s) => Some(self.span(file, s)?),
            None => None,
        };
        let until = match &f.until {
            Some(s) => Some(self.span(file, s)?),
            None => None,
        };
        let time = match &f.time {
            Some(t) => Some(self.template(file, t, ROOTS_ITEM)?),
            None => None,
        };
        let limit = match &f.limit {
            Some(l) => Some(self.count(file, l, "limit")?),
            None => None,
        };
        if status_in.is_some() {
            self.selected_statuses = status_in.clone();
        }
        Some(FilterPlan {
            input,
            status_in,
            status_not_in,
            predicate,
            since,
            until,
            time,
            limit,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn retry(
        &mut self,
        file: &Arc<SourceFile>,
        r: &model::Retry,
        backoff: &BackoffPolicy,
        dfile: &Arc<SourceFile>,
        defaults: &Defaults,
        first: bool,
        at: Option<Position>,
        provider_guards_status: bool,
    ) -> Option<RetryPlan> {
        let input = self.input(file, &r.input, first, at)?;
        let d = defaults.retry.as_ref();
        let own_mode = r.request.is_some() || r.batch.is_some();
        let merged = match (&r.request, d.and_then(|d| d.request.as_ref())) {
            (Some(own), Some(dflt)) if r.batch.is_none() => Some(own.over(dflt)),
            _ => None,
        };
        let (mfile, request, batch) = if own_mode {
            (
                file,
                merged.as_ref().or(r.request.as_ref()),
                r.batch.as_ref(),
            )
        } else {
            (
                dfile,
                d.and_then(|d| d.request.as_ref()),
                d.and_then(|d| d.batch.as_ref()),
            )
        };
        let mode = match (request, batch) {
            (_, Some(b)) => {
                let size = self.count(mfile, &b.size, "batch size")?;
                if size == 0 {
                    return self.error(
                        mfile,
                        position_of(&b.size),
                        "a batch holds at least one item",
                        None,
                    );
                }
                let Some(req) = b.request.as_ref().or(request) else {
                    return self.error(mfile, at, "the batch has no `request`", Some("add `batch: {size: 50, request: {path: /tasks/retry, body: {ids: \"{{ ids }}\"}}}`".into()));
                };
                RetryMode::Batch {
                    size: size as usize,
                    request: self.request(mfile, req, ROOTS_BATCH, "POST", at)?,
                }
            }
            (Some(req), None) => {
                RetryMode::PerItem(self.request(mfile, req, ROOTS_ITEM, "POST", at)?)
            }
            (None, None) => {
                return self.error(
                    file,
                    at,
                    "this retry has no `request` or `batch`",
                    Some(
                        "add `request: {method: POST, path: \"/tasks/{{ task.id }}/retry\"}`"
                            .into(),
                    ),
                );
            }
        };
        let concurrency = match &r.concurrency {
            Some(c) => self.count(file, c, "concurrency")?,
            None => d
                .and_then(|d| d.concurrency.as_ref())
                .and_then(|c| self.count(dfile, c, "concurrency"))
                .unwrap_or(1),
        };
        if concurrency == 0 {
            return self.error(file, at, "concurrency must be at least 1", None);
        }
        let rate = match (&r.rate, d.and_then(|d| d.rate.as_ref())) {
            (Some(rate), _) => Some(self.rate(file, rate)?),
            (None, Some(rate)) => Some(self.rate(dfile, rate)?),
            (None, None) => None,
        };
        let base = self.backoff(dfile, d.and_then(|d| d.backoff.as_ref()), backoff.clone());
        let backoff = self.backoff(file, r.backoff.as_ref(), base);
        let default_outcome = d.and_then(|d| d.outcome.as_ref());
        let mut outcome = match (&r.outcome, default_outcome) {
            (Some(o), _) => self.outcome(file, o)?,
            (None, Some(o)) => self.outcome(dfile, o)?,
            (None, None) => self.outcome(file, &model::OutcomeRules::default())?,
        };
        // What the adapter knows of its server's ambiguous and missing-route answers stays, unless
        // the playbook's own `outcome` says otherwise.
        if let (Some(own), Some(dflt)) = (&r.outcome, default_outcome) {
            if own.ambiguous.is_none() {
                outcome.ambiguous = dflt.ambiguous.clone().unwrap_or_default();
            }
            if own.missing_route.is_none() {
                outcome.missing_route = self.missing_routes(dfile, dflt)?;
            }
        }
        let only_status = match &r.only_status {
            Some(list) => Some(self.statuses(file, list)?),
            None if provider_guards_status => self.selected_statuses.clone(),
            None => None,
        };
        let new_id = match (&r.new_id, d.and_then(|d| d.new_id.as_ref())) {
            (Some(p), _) => Some(self.jsonpath(file, p)?),
            (None, Some(p)) => Some(self.jsonpath(dfile, p)?),
            (None, None) => None,
        };
        let note = match (&r.note, d.and_then(|d| d.note.as_ref())) {
            (Some(t), _) => Some(self.template(file, t, ROOTS_NOTE)?),
            (None, Some(t)) => Some(self.template(dfile, t, ROOTS_NOTE)?),
            (None, None) => None,
        };
        let counter = match (&r.counter, d.and_then(|d| d.counter.as_ref())) {
            (Some(p), _) => Some(self.jsonpath(file, p)?),
            (None, Some(p)) => Some(self.jsonpath(dfile, p)?),
            (None, None) => None,
        };
        let check = match (&r.check, defaults.get.as_ref()) {
            (Some(c), d) => Some(self.enrich(file, c, dfile, d, at)?),
            (None, Some(d)) => Some(self.enrich(dfile, d, dfile, None, at)?),
            (None, None) => None,
        };
        let on_ambiguous = r.on_ambiguous.unwrap_or(if check.is_some() {
            model::OnAmbiguous::Check
        } else {
            model::OnAmbiguous::GiveUp
        });
        if on_ambiguous == model::OnAmbiguous::Check && check.is_none() {
            return self.error(
                file,
                at,
                "`on_ambiguous: check` needs a way to read an item: add `check: {request: …}`",
                None,
            );
        }
        let budget = match &r.budget {
            Some(b) => Some((b.max, self.span(file, &b.per)?)),
            None => None,
        };
        let retryable = self.selected_statuses.clone();
        Some(RetryPlan {
            fields: self.task_fields.clone()?,
            retryable,
            check,
            on_ambiguous,
            budget,
            input,
            mode,
            concurrency: concurrency as usize,
            rate,
            backoff,
            outcome,
            only_status,
            new_id,
            note,
            counter,
        })
    }

    fn outcome(&mut self, file: &Arc<SourceFile>, o: &model::OutcomeRules) -> Option<OutcomePlan> {
        let message = match &o.message {
            Some(m) => vec![self.jsonpath(file, m)?],
            None => crate::jsonpath::message_paths(),
        };
        let mut body = Vec::new();
        for rule in &o.body {
            let when = self.predicate(file, &rule.when)?;
            let message = match &rule.message {
                Some(m) => Some(self.jsonpath(file, m)?),
                None => None,
            };
            body.push(BodyRulePlan {
                status: rule.status.clone().unwrap_or_default(),
                when,
                outcome: rule.outcome,
                message,
            });
        }
        let items = match &o.items {
            Some(i) => {
                let path_or = |c: &mut Self, p: &Option<Spanned<String>>, d: &str| match p {
                    Some(p) => c.jsonpath(file, p),
                    None => JsonPath::parse(d).ok(),
                };
                Some(ItemRulesPlan {
                    path: self.jsonpath(file, &i.path)?,
                    id: path_or(self, &i.id, "$.id")?,
                    code: path_or(self, &i.code, "$.code")?,
                    message: path_or(self, &i.message, "$.message")?,
                    codes: i.codes.clone(),
                    otherwise: i.otherwise.unwrap_or(Outcome::Failed),
                    unlisted: i.unlisted.unwrap_or(Outcome::Retried),
                })
            }
            None => None,
        };
        let missing_route = self.missing_routes(file, o)?;
        Some(OutcomePlan {
            status: o.status.clone(),
            message,
            body,
            items,
            ambiguous: o.ambiguous.clone().unwrap_or_default(),
            missing_route,
        })
    }

    fn missing_routes(
        &mut self,
        file: &Arc<SourceFile>,
        o: &model::OutcomeRules,
    ) -> Option<Vec<MissingRoutePlan>> {
        let mut routes = Vec::new();
        for rule in o.missing_route.iter().flatten() {
            routes.push(MissingRoutePlan {
                status: rule.status.clone().unwrap_or_else(|| vec![404]),
                when: self.predicate(file, &rule.when)?,
                hint: rule.hint.clone(),
            });
        }
        Some(routes)
    }

    fn verify(
        &mut self,
        file: &Arc<SourceFile>,
        v: &model::Verify,
        dfile: &Arc<SourceFile>,
        defaults: &Defaults,
        first: bool,
        at: Option<Position>,
    ) -> Option<VerifyPlan> {
        let input = self.input(file, &v.input, first, at)?;
        let d = defaults.verify.as_ref();
        let read = model::Enrich {
            request: v.request.clone(),
            item: v.item.clone(),
            merge: Some(true),
            concurrency: v.concurrency.as_ref().map(|c| c.value.clone()),
        };
        // The provider's own verify request, else its get-one request.
        let fallback = d.filter(|d| d.request.is_some()).map(|d| model::Enrich {
            request: d.request.clone(),
            item: d.item.clone(),
            merge: Some(true),
            concurrency: None,
        });
        let read = self.enrich(
            file,
            &read,
            dfile,
            fallback.as_ref().or(defaults.get.as_ref()),
            at,
        )?;
        let mut statuses = |own: &Option<Spanned<model::Statuses>>,
                            dflt: Option<&Spanned<model::Statuses>>,
                            what: &str|
         -> Option<Vec<String>> {
            match (own, dflt) {
                (Some(l), _) => self.statuses(file, l),
                (None, Some(l)) => self.statuses(dfile, l),
                (None, None) => self.error(
                    file,
                    at,
                    format!("this verify does not say which statuses mean {what}"),
                    Some(format!(
                        "add `{}: [...]`",
                        if what == "success" {
                            "success"
                        } else {
                            "failure"
                        }
                    )),
                ),
            }
        };
        let success = statuses(&v.success, d.and_then(|d| d.success.as_ref()), "success")?;
        let failure = statuses(&v.failure, d.and_then(|d| d.failure.as_ref()), "failure")?;
        let every = match &v.every {
            Some(s) => self.span(file, s)?.0,
            None => Duration::from_secs(10),
        };
        let timeout = match &v.timeout {
            Some(s) => self.span(file, s)?.0,
            None => Duration::from_secs(600),
        };
        let rate = match &v.rate {
            Some(r) => Some(self.rate(file, r)?),
            None => None,
        };
        Some(VerifyPlan {
            input,
            read,
            fields: self.task_fields.clone()?,
            success,
            failure,
            every,
            timeout,
            rate,
        })
    }

    fn report(&mut self, file: &Arc<SourceFile>, r: &model::Report) -> Option<ReportPlan> {
        let mut files = Vec::new();
        for f in &r.files {
            let t = self.template(file, f, ROOTS_REPORT)?;
            // Rendered now with a stand-in run, so that a path that leaves the working directory
            // is a load error rather than a report missing after the run.
            let run = serde_json::json!({
                "id": "20260101T000000Z-0000",
                "playbook": self.playbook,
                "started_at": "2026-01-01T00:00:00Z",
            });
            let ctx = context([("vars", self.vars), ("run", &run)]);
            match self.templates.trial(&t, &ctx) {
                Trial::Rendered(path) => {
                    if let Err(e) = crate::report::confined_path(&path) {
                        self.error::<()>(file, position_of(f), e, None);
                        continue;
                    }
                }
                Trial::Broken(why) => {
                    self.error::<()>(
                        file,
                        position_of(f),
                        format!("the template cannot be rendered: {why}"),
                        Some(broken_help()),
                    );
                    continue;
                }
                Trial::Unresolved => {}
            }
            let ext = std::path::Path::new(f.value.trim())
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("");
            if !crate::report::is_known_extension(ext) {
                return self.error(
                    file,
                    position_of(f),
                    format!("cannot tell the report format of `{}`", f.value),
                    Some(format!(
                        "end the file name with one of: {}",
                        crate::report::EXTENSIONS.join(", ")
                    )),
                );
            }
            files.push(t);
        }
        let notify = match &r.notify {
            Some(n) => Some(self.notify(file, n)?),
            None => None,
        };
        Some(ReportPlan {
            files,
            title: r.title.clone(),
            notify,
        })
    }

    fn notify(
        &mut self,
        file: &Arc<SourceFile>,
        n: &crate::playbook::notify::Notify,
    ) -> Option<crate::playbook::notify::NotifyPlan> {
        let method = match &n.method {
            None => reqwest::Method::POST,
            Some(m) => match m.value.to_ascii_uppercase().as_str() {
                "POST" => reqwest::Method::POST,
                "PUT" => reqwest::Method::PUT,
                "PATCH" => reqwest::Method::PATCH,
                "GET" => reqwest::Method::GET,
                "DELETE" => reqwest::Method::DELETE,
                _ => {
                    return self.error(
                        file,
                        position_of(m),
                        format!("unknown HTTP method `{}`", m.value),
                        Some("use POST, PUT, PATCH, GET or DELETE".into()),
                    );
                }
            },
        };
        let url = self.template(file, &n.url, ROOTS_NOTIFY)?;
        let mut headers = Vec::new();
        for (name, value) in &n.headers {
            headers.push((name.clone(), self.template(file, value, ROOTS_NOTIFY)?));
        }
        let body = n
            .body
            .as_ref()
            .map(|b| self.body(file, &b.value, b, ROOTS_NOTIFY));
        let timeout = match &n.timeout {
            Some(t) => self.span(file, t)?.0,
            None => crate::playbook::notify::DEFAULT_TIMEOUT,
        };
        Some(crate::playbook::notify::NotifyPlan {
            method,
            url,
            headers,
            body,
            when: n.when,
            timeout,
        })
    }
}
