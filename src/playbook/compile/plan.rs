//! The compiled playbook: what the engine runs. Every template, JSONPath, duration and rate in it is
//! already compiled and checked, every default already applied; nothing here is parsed again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::client::backoff::BackoffPolicy;
use crate::diagnostic::{Diagnostic, Position, SourceFile};
use crate::jsonpath::{JsonPath, Predicate};
use crate::playbook::model::{self, Outcome};
use crate::providers::Provider;
use crate::template::{Template, Templates};
use crate::units::{Rate, Span};

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
    /// The names of the `secret('NAME')` calls in the playbook's own templates.
    pub(crate) secrets: BTreeSet<String>,
}

impl Plan {
    /// The secrets the playbook's own templates call `secret('NAME')` for, found in the compiled
    /// templates (not in comments or other text), so that a missing one stops the run before any
    /// request. The adapter's own credentials are its `check_credentials`' to demand.
    pub fn secrets_used(&self) -> &BTreeSet<String> {
        &self.secrets
    }
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
    pub rate: Option<crate::client::pace::Pace>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub backoff: BackoffPolicy,
    /// Which redirects a read follows (a retry follows none).
    pub redirects: crate::client::Redirects,
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

impl RequestPlan {
    /// Whether the request reads nothing of its item but `{{ task.id | urlencode }}` in its path
    /// or URL (no query, header or body template): it is rendered from the id alone.
    pub fn reads_only_task_id(&self) -> bool {
        let target = match &self.target {
            Target::Path(t) | Target::Url(t) => t,
        };
        target.reads_only_task_id()
            && self.query.is_empty()
            && self.headers.is_empty()
            && self
                .body
                .as_ref()
                .is_none_or(|b| matches!(b, BodyTemplate::Literal(_)))
    }
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
    /// Most items the step may fetch: more abort the run (`max_items`, default `fetch::DEFAULT_MAX_ITEMS`).
    pub max_items: u64,
    pub enrich: Option<EnrichPlan>,
    pub fields: FieldsPlan,
    /// Whether the next step, a filter, alone reads this fetch's items (and no template does): its
    /// tests then run on each item as the fetch finds it, and only the kept items are held.
    pub filtered_by_next: bool,
}

pub enum FetchSource {
    Http {
        /// The listing whose items (or, with `each`, whose items' own listings) the step holds.
        listing: Box<ListingPlan>,
        /// A second listing per item found, whose items are the step's.
        each: Option<Box<ListingPlan>>,
    },
    File {
        path: Template,
        id_field: Option<String>,
    },
    Ids(Template),
}

/// One HTTP listing: the fetch's own, or one of `fetch: each:`.
pub struct ListingPlan {
    pub request: RequestPlan,
    pub items: Vec<JsonPath>,
    pub total: Option<JsonPath>,
    pub paginate: Option<PaginatePlan>,
    /// The most items one answer holds (an answer holding that many may be truncated).
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
    pub rate: Option<crate::client::pace::Pace>,
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
    pub notify: Option<NotifyPlan>,
}

/// A compiled `notify:` block.
pub struct NotifyPlan {
    pub method: reqwest::Method,
    pub url: Template,
    pub headers: Vec<(String, Template)>,
    pub body: Option<BodyTemplate>,
    pub when: crate::playbook::model::NotifyWhen,
    pub timeout: std::time::Duration,
}
