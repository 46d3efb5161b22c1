//! The playbook language as data: what a YAML playbook may say, with a JSON Schema for editors.
//!
//! Every field that can be wrong in a way found after parsing (a template, a JSONPath, a duration,
//! a rate) is kept `Spanned`, so that its error points at the YAML line. Unknown keys are refused
//! everywhere (`deny_unknown_fields`), with a did-you-mean added by the loader.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
pub use serde_saphyr::Spanned;

/// A recovery playbook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "runbook playbook")]
pub struct Playbook {
    /// Short name for reports, history and file names: letters, digits, `-`, `_`, `.` (up to 64).
    #[schemars(with = "String", regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"))]
    pub name: Spanned<String>,
    /// What the playbook is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The provider adapter: `http` (generic, configured here), or a built-in one.
    #[schemars(with = "ProviderName")]
    pub provider: Spanned<String>,
    /// Where and how to reach the provider.
    #[serde(default)]
    pub connection: Connection,
    /// How to read the id, label, status, creation time and failure message of an item.
    #[serde(default)]
    pub task: TaskFields,
    /// Blast-radius guards and the circuit breaker.
    #[serde(default)]
    pub guards: Guards,
    /// Inputs with their defaults; override with `--var name=value`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// The steps, run in order.
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
}

/// The provider adapters, for the schema (the loader checks the name against `providers::all`).
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum ProviderName {
    Beam,
    Deepwork,
    Herodotus,
    Geelark,
    Skyvern,
    Http,
}

/// Connection settings shared by every request.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Base URL (template). Built-in providers have a default.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub base_url: Option<Spanned<String>>,
    /// Headers sent with every request (templates), e.g. `Authorization: "Bearer {{ secret('TOKEN') }}"`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// A rate limit over every request of the run, e.g. `10/s`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub rate: Option<Spanned<String>>,
    /// Time allowed for one whole request (default `30s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Time allowed to connect (default `10s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub connect_timeout: Option<Spanned<String>>,
    /// How transient failures are retried, for every request.
    #[serde(default)]
    pub backoff: Option<Backoff>,
    /// Which redirects a read (a listing, an item read, a check, a verify poll) follows:
    /// `same_origin` (the default) follows those to the API's own scheme, host and port; `any`
    /// also follows those to another origin, sending none of the connection's or the adapter's
    /// headers there (no credential leaves for another host); `none` follows none. A retry, or any
    /// request that changes something, never follows a redirect: its item fails naming the
    /// `Location` (after a 303, which says it was carried out, it is `unknown`), and it is not
    /// sent again.
    #[serde(default)]
    pub redirects: Option<RedirectRule>,
    /// Provider-specific options (see the provider's documentation).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub options: serde_json::Map<String, serde_json::Value>,
}

/// Which redirects a connection's reads follow (see [`Connection::redirects`]).
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RedirectRule {
    /// Only to the API's own scheme, host and port (the default).
    SameOrigin,
    /// To any origin; to another one without any of the connection's headers.
    Any,
    /// None: a redirect is an error naming its `Location`.
    None,
}

/// Transient-failure handling: which answers are transient and how long to wait between attempts.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// Most attempts of one request, the first included (default 5).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// First wait (default `500ms`); each later wait doubles, with full jitter.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub initial: Option<Spanned<String>>,
    /// Longest wait between attempts (default `30s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max: Option<Spanned<String>>,
    /// HTTP statuses that are transient (default 429, 502, 503, 504).
    #[serde(default)]
    pub on_status: Option<Vec<u16>>,
    /// Longest `Retry-After` honoured (default `5m`); a provider asking for more fails the request.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max_retry_after: Option<Spanned<String>>,
}

/// JSONPaths into an item (relative to the item, `$` is the item itself).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskFields {
    /// The item's id (default `$.id`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub id: Option<Spanned<String>>,
    /// A human label (e.g. `$.name`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    /// The item's status (default `$.status`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub status: Option<Spanned<String>>,
    /// When the item was created (default `$.created_at`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub created_at: Option<Spanned<String>>,
    /// The failure message (e.g. `$.error`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<Spanned<String>>,
}

/// One step. Exactly one of `fetch`, `filter`, `retry`, `report` is given.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name that later steps use to refer to this step's items (`input:` or `steps.NAME`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fetch: Option<Fetch>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub retry: Option<Retry>,
    #[serde(default)]
    pub verify: Option<Verify>,
    #[serde(default)]
    pub report: Option<Report>,
}

/// Poll each retried item until its work settles: `recovered`, `still_failing`, or `pending` when
/// it has not settled by `timeout`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The step whose items are verified (default: the previous step's, the retried items).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub input: Option<Spanned<String>>,
    /// The request that reads one item (default: the provider's); templates see `item` and `task`
    /// (`task.new_id` is the new work a retry created).
    #[serde(default)]
    pub request: Option<Request>,
    /// JSONPath to the item in the answer (default `$`, or the provider's).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub item: Option<Spanned<String>>,
    /// Statuses that mean the work succeeded.
    #[serde(default)]
    #[schemars(with = "Option<Statuses>")]
    pub success: Option<Spanned<Statuses>>,
    /// Statuses that mean it failed again.
    #[serde(default)]
    #[schemars(with = "Option<Statuses>")]
    pub failure: Option<Spanned<Statuses>>,
    /// Time between two polls of an item (default `10s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub every: Option<Spanned<String>>,
    /// How long to wait for the work to settle (default `10m`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
    /// Reads in flight at once (default 1).
    #[serde(default)]
    #[schemars(with = "Option<Count>")]
    pub concurrency: Option<Spanned<Count>>,
    /// A rate limit of these reads, e.g. `5/s` (the connection's applies too).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub rate: Option<Spanned<String>>,
}

/// A templated HTTP request.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// HTTP method (default GET for reads, POST for retries).
    #[serde(default)]
    pub method: Option<String>,
    /// Path under the base URL (template).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// A full URL instead of a path (template).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// Query parameters (templates); a list repeats the parameter.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, QueryValue>")]
    pub query: BTreeMap<String, Spanned<QueryValue>>,
    /// Extra headers (templates).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// JSON body; its strings are templates, and a string that is one `{{ expression }}` becomes
    /// the expression's value.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub body: Option<Spanned<serde_json::Value>>,
}

impl Request {
    /// This request with what it leaves out taken from `default` (query and headers merged by name).
    pub fn over(&self, default: &Request) -> Request {
        let mut query = default.query.clone();
        query.extend(self.query.clone());
        let mut headers = default.headers.clone();
        headers.extend(self.headers.clone());
        let (path, url) = if self.path.is_some() || self.url.is_some() {
            (self.path.clone(), self.url.clone())
        } else {
            (default.path.clone(), default.url.clone())
        };
        Request {
            method: self.method.clone().or_else(|| default.method.clone()),
            path,
            url,
            query,
            headers,
            body: self.body.clone().or_else(|| default.body.clone()),
        }
    }
}

/// A query parameter's value: one or several (repeated) values.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum QueryValue {
    One(Scalar),
    Many(Vec<Scalar>),
}

/// A string, number or boolean, kept as its text.
#[derive(Clone, Debug, JsonSchema)]
#[schemars(with = "serde_json::Value")]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Scalar(s)),
            serde_json::Value::Number(n) => Ok(Scalar(n.to_string())),
            serde_json::Value::Bool(b) => Ok(Scalar(b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, number or boolean, found {other}"
            ))),
        }
    }
}

/// A list of statuses, or a template over `vars` that renders one (`"{{ vars.statuses }}"`: a list,
/// or comma-separated text).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Statuses {
    List(Vec<Scalar>),
    Template(String),
}

/// One JSONPath, or several.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn all(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(list) => list.clone(),
        }
    }
}

/// A whole number, or a template that renders to one (`"{{ vars.limit }}"`).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Count {
    Number(u64),
    Template(String),
}

/// Fetch items: by HTTP (with pagination), from a local JSON file, or from a list of ids.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// The list request (built-in providers have a default).
    #[serde(default)]
    pub request: Option<Request>,
    /// JSONPath to the items in each response (e.g. `$.tasks[*]`); a list of paths adds up what
    /// each finds (for APIs that answer in more than one shape).
    #[serde(default)]
    #[schemars(with = "Option<OneOrMany>")]
    pub items: Option<Spanned<OneOrMany>>,
    /// JSONPath to the number of items the API says there are; fewer items fetched than that fails
    /// the run rather than work on a truncated list.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub total: Option<Spanned<String>>,
    /// How to get the next page.
    #[serde(default)]
    pub paginate: Option<Paginate>,
    /// A local JSON file: an array of ids, or of objects with an id field (template; relative to the
    /// working directory).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub file: Option<Spanned<String>>,
    /// In `file` objects, the field that holds the id (default: `id`, then `task_id`, `taskId`).
    #[serde(default)]
    pub id_field: Option<String>,
    /// Ids given directly: a template rendering to a list, or to comma/space-separated text.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ids: Option<Spanned<String>>,
    /// The most items the API returns in one answer, whatever `limit` asks (PocketPaw: 100). A
    /// listing without pagination whose answer holds that many may be truncated: the run warns,
    /// records it in the report's `errors` and exits 1. Built-in adapters declare their list's cap;
    /// a fetch that names its own `path` or `url` says its own.
    #[serde(default)]
    pub cap: Option<u64>,
    /// For each item the listing finds, a second listing whose items are this step's items (each
    /// project's tasks): narrows a capped listing. Its request templates see `item` (the outer
    /// item's JSON); the outer items are not items of the step.
    #[serde(default)]
    pub each: Option<Box<Listing>>,
    /// Read each item again with its own request (for APIs with no list endpoint).
    #[serde(default)]
    pub enrich: Option<Enrich>,
    /// Overrides `task:` for the items of this step.
    #[serde(default)]
    pub fields: Option<TaskFields>,
    /// With a listing ordered `newest_first`: stop paging at the first page whose items are all
    /// older than this (e.g. `3d`; a template over `vars`). Default: the `since` of the filter
    /// step that reads this fetch's items, when that filter looks at the items' own time (no
    /// `time:` template of its own).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stop_before: Option<Spanned<String>>,
    /// Most items this step may fetch (default 50000; a number or a template over `vars`). More
    /// abort the run (exit 3) rather than hold an unbounded list in memory.
    #[serde(default)]
    #[schemars(with = "Option<Count>")]
    pub max_items: Option<Spanned<Count>>,
}

/// One HTTP listing: a request, where its items are, and how to page it (`fetch: each:`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// The request (default method GET); templates see `vars`, `steps` and `item`.
    pub request: Request,
    /// JSONPath to the items in each answer (default `$[*]`); a list of paths adds up what each
    /// finds.
    #[serde(default)]
    #[schemars(with = "Option<OneOrMany>")]
    pub items: Option<Spanned<OneOrMany>>,
    /// JSONPath to the number of items the API says there are (as on `fetch`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub total: Option<Spanned<String>>,
    /// How to get the next page.
    #[serde(default)]
    pub paginate: Option<Paginate>,
    /// The most items the API returns in one answer (as on `fetch`).
    #[serde(default)]
    pub cap: Option<u64>,
}

/// Pagination: exactly one style, plus the `max_pages` guard.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Paginate {
    /// Page numbers: `page: {param: page, size_param: per_page, size: 50, start: 1}`.
    #[serde(default)]
    pub page: Option<PageNumbers>,
    /// Offsets: `offset: {param: offset, limit_param: limit, size: 50}`.
    #[serde(default)]
    pub offset: Option<Offsets>,
    /// A cursor read from each response: `cursor: {param: cursor, next: $.next_cursor}`.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// A link to the next page: `next_link: {path: $.next}` or `next_link: {header: link}`.
    #[serde(default)]
    pub next_link: Option<NextLink>,
    /// Most pages to read (default 100). More pages than this fail the run rather than silently
    /// truncating it.
    #[serde(default)]
    pub max_pages: Option<u32>,
    /// The order the API lists items in: `newest_first` lets paging stop early, at the first page
    /// whose items are all older than the fetch's `stop_before` (or the next filter's `since`).
    /// Default `unordered`: every page is read.
    #[serde(default)]
    pub order: Option<ListOrder>,
    /// JSONPath to the time a `newest_first` listing is ordered by (default: `task.created_at`'s
    /// path). An item whose time cannot be read never ends the paging.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub time: Option<Spanned<String>>,
}

/// The order of a listing's items across its pages.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    /// No order runbook can rely on: every page is read.
    #[default]
    Unordered,
    /// Newest first by `time`: once a whole page is older than the window, so is every later one.
    NewestFirst,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageNumbers {
    /// Query parameter of the page number (default `page`).
    #[serde(default)]
    pub param: Option<String>,
    /// First page number (default 1).
    #[serde(default)]
    pub start: Option<u64>,
    /// Query parameter of the page size (default none: the API's own).
    #[serde(default)]
    pub size_param: Option<String>,
    /// Page size; a shorter page is the last one.
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Offsets {
    /// Query parameter of the offset (default `offset`).
    #[serde(default)]
    pub param: Option<String>,
    /// Query parameter of the page size (default `limit`).
    #[serde(default)]
    pub limit_param: Option<String>,
    /// Page size (default 50); a shorter page is the last one.
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Query parameter that carries the cursor (default `cursor`).
    #[serde(default)]
    pub param: Option<String>,
    /// Where the cursor goes: `query` (default) or `body` (a top-level field of the JSON body).
    #[serde(default)]
    pub location: Option<CursorLocation>,
    /// JSONPath to the next cursor in a response; null, empty or a repeat ends the listing.
    #[schemars(with = "String")]
    pub next: Spanned<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CursorLocation {
    #[default]
    Query,
    Body,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NextLink {
    /// JSONPath to the next page's URL in a response.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// Or a header in RFC 8288 form (`Link: <url>; rel="next"`), e.g. `link`.
    #[serde(default)]
    pub header: Option<String>,
}

/// A request per item whose answer replaces (or, with `merge`, extends) the item.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrich {
    /// The request per item; without it, the provider's get-one request (`enrich: {}`).
    #[serde(default)]
    pub request: Option<Request>,
    /// JSONPath to the item in the answer (default `$`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub item: Option<Spanned<String>>,
    /// Keep the item's own fields and add the answer's (default true).
    #[serde(default)]
    pub merge: Option<bool>,
    /// Requests in flight at once (default 1).
    #[serde(default)]
    pub concurrency: Option<Count>,
}

/// Keep some items.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The step whose items are filtered (default: the previous step's).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub input: Option<Spanned<String>>,
    /// Keep items whose status is one of these.
    #[serde(default)]
    #[schemars(with = "Option<Statuses>")]
    pub status_in: Option<Spanned<Statuses>>,
    /// Drop items whose status is one of these.
    #[serde(default)]
    #[schemars(with = "Option<Statuses>")]
    pub status_not_in: Option<Spanned<Statuses>>,
    /// A JSONPath filter expression on the item, e.g. `@.attempts < 3 && @.error != null`.
    #[serde(default, rename = "where")]
    #[schemars(with = "Option<String>")]
    pub where_: Option<Spanned<String>>,
    /// Keep items created at most this long ago, e.g. `24h`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub since: Option<Spanned<String>>,
    /// Keep items created at least this long ago, e.g. `1h`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub until: Option<Spanned<String>>,
    /// The timestamp `since`/`until` look at (template; default `{{ task.created_at }}`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub time: Option<Spanned<String>>,
    /// Keep at most this many items.
    #[serde(default)]
    #[schemars(with = "Option<Count>")]
    pub limit: Option<Spanned<Count>>,
}

/// Call the provider's retry for every item, or for batches of items.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// The step whose items are retried (default: the previous step's).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub input: Option<Spanned<String>>,
    /// The retry request per item (built-in providers have a default).
    #[serde(default)]
    pub request: Option<Request>,
    /// Retry several items per request instead.
    #[serde(default)]
    pub batch: Option<Batch>,
    /// Requests in flight at once (default 1).
    #[serde(default)]
    #[schemars(with = "Option<Count>")]
    pub concurrency: Option<Spanned<Count>>,
    /// Rate limit shared by every worker, e.g. `5/s` or `100/min`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub rate: Option<Spanned<String>>,
    /// Transient-failure handling for these requests (default: the connection's).
    #[serde(default)]
    pub backoff: Option<Backoff>,
    /// How answers become outcomes.
    #[serde(default)]
    pub outcome: Option<OutcomeRules>,
    /// Retry only items with one of these statuses; others are `skipped` without a request. Built-in
    /// providers whose retry accepts any item (Skyvern) default it to the filter's `status_in`.
    #[serde(default)]
    #[schemars(with = "Option<Statuses>")]
    pub only_status: Option<Spanned<Statuses>>,
    /// JSONPath to the id of the new work a retry creates (Skyvern's new run), recorded in the report
    /// as `new_id` and in the ledger as the next link of the item's chain: the item is not retried
    /// again, only the chain's head (the newest work) may be.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub new_id: Option<Spanned<String>>,
    /// How to read one item's current status, to tell whether a retry that may have been carried out
    /// was (default: the provider's get-one request).
    #[serde(default)]
    pub check: Option<Enrich>,
    /// What to do when a retry request may have been carried out (a timeout or a broken answer
    /// after sending, or an answer listed in `outcome.ambiguous`): `check` the item's status first
    /// (the default where a `check` exists), `resend`, or `give_up` (report it `unknown`; the
    /// default otherwise).
    #[serde(default)]
    pub on_ambiguous: Option<OnAmbiguous>,
    /// JSONPath to a number the provider raises with each retry it carries out (Deep Work's
    /// `$.retry_count`). When set, a check after an ambiguous answer counts the retry as carried
    /// out when the number grew since the item was fetched, whatever its status.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub counter: Option<Spanned<String>>,
    /// Retry one task at most `max` times in `per` across runs (from the ledger); a task over it is
    /// reported `chronic` and not sent. Where retries create new work (`new_id`), the retries of
    /// the whole chain count.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// A note for the report on each retried item (template over `item`, `task`, `response`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub note: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Most items per request.
    #[schemars(with = "Count")]
    pub size: Spanned<Count>,
    /// The request; its templates see `items`, `ids` and `tasks` (built-in providers have a default).
    #[serde(default)]
    pub request: Option<Request>,
}

/// What a retry answer means.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRules {
    /// HTTP status → outcome, e.g. `{404: failed, 409: skipped}`. Without a rule, 2xx is
    /// `retried`, and other answers that are not transient are `failed`.
    #[serde(default)]
    pub status: BTreeMap<u16, Outcome>,
    /// JSONPath to the error message in an answer (default: `$.message`, `$.error`, `$.detail`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<Spanned<String>>,
    /// Rules on a successful answer's body, first match wins, e.g.
    /// `- {when: "@.ok == false", outcome: skipped, message: $.reason}`.
    #[serde(default)]
    pub body: Vec<BodyRule>,
    /// For answers that report each item (batches): where the per-item results are.
    #[serde(default)]
    pub items: Option<ItemRules>,
    /// HTTP statuses that may come after the provider acted (Deep Work answers 500 when it saved
    /// the retry and then failed to dispatch it): handled as `on_ambiguous` says, never resent
    /// blindly. Default: the adapter's (none for `http`).
    #[serde(default)]
    pub ambiguous: Option<Vec<u16>>,
    /// Answers that mean the server has no such route (a web framework's own 404), not that the
    /// item is unknown: the run stops (exit 3) naming the route, instead of failing every item.
    /// Default: the adapter's.
    #[serde(default)]
    pub missing_route: Option<Vec<MissingRoute>>,
}

/// An answer that means "no such route" (`outcome.missing_route`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MissingRoute {
    /// The HTTP statuses it applies to (default: 404).
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// JSONPath filter expression on the answer body, e.g. `@.detail == 'Not Found'`.
    #[schemars(with = "String")]
    pub when: Spanned<String>,
    /// What to tell the user: which server versions have the route.
    #[serde(default)]
    pub hint: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BodyRule {
    /// The HTTP statuses the rule applies to (default: any 2xx).
    #[serde(default)]
    pub status: Option<Vec<u16>>,
    /// JSONPath filter expression on the answer body, e.g.
    /// `search(@.detail, 'Can only retry')` or `@.ok == false`.
    #[schemars(with = "String")]
    pub when: Spanned<String>,
    pub outcome: Outcome,
    /// JSONPath to the message.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRules {
    /// JSONPath to the per-item results, e.g. `$.results[*]`.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// JSONPath to the id inside a result (default `$.id`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub id: Option<Spanned<String>>,
    /// JSONPath to the result's code (default `$.code`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub code: Option<Spanned<String>>,
    /// JSONPath to the result's message (default `$.message`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<Spanned<String>>,
    /// Code → outcome, e.g. `{NOT_RETRYABLE: skipped, OK: retried}`.
    #[serde(default)]
    pub codes: BTreeMap<String, Outcome>,
    /// Outcome of a result whose code is not in `codes` (default `failed`).
    #[serde(default)]
    pub otherwise: Option<Outcome>,
    /// Outcome of an item the answer does not mention (default `retried`).
    #[serde(default)]
    pub unlisted: Option<Outcome>,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnAmbiguous {
    Check,
    Resend,
    GiveUp,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Most retries of one task within `per`.
    pub max: u32,
    /// The window, e.g. `7d`.
    #[schemars(with = "String")]
    pub per: Spanned<String>,
}

/// Blast-radius guards and the circuit breaker, for every retry step.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guards {
    /// Abort (exit 3) before sending anything when a retry step would retry more items than this,
    /// unless `--yes`.
    #[serde(default)]
    pub max_selected: Option<u64>,
    /// The same as a share of the items fetched (0 to 1).
    #[serde(default)]
    pub max_selected_ratio: Option<f64>,
    /// Stop sending (exit 3) after this many failures in a row.
    #[serde(default)]
    pub max_consecutive_failures: Option<u32>,
    /// Stop sending (exit 3) when more than this share (0 to 1) of the last `window` items failed.
    #[serde(default)]
    pub max_failure_ratio: Option<f64>,
    /// Items the failure ratio looks at (default 20).
    #[serde(default)]
    pub window: Option<u32>,
}

/// What became of one item's retry.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Retried,
    Skipped,
    Failed,
}

/// Write reports.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Files to write; the format follows the extension (`.json`, `.md`, `.xml` for JUnit, `.prom`
    /// for Prometheus). Templates.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub files: Vec<Spanned<String>>,
    /// Title of the Markdown report (default: the playbook's name).
    #[serde(default)]
    pub title: Option<String>,
    /// A request sent at the end of the run (also when it aborted) with its summary: a Slack or
    /// Teams webhook, any URL.
    #[serde(default)]
    pub notify: Option<super::notify::Notify>,
}

/// What a provider adapter supplies, in the same language as a playbook (see `providers`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub connection: Connection,
    #[serde(default)]
    pub task: TaskFields,
    /// The list request, its items path and pagination.
    #[serde(default)]
    pub fetch: Option<Fetch>,
    /// The get-one request, used to read one item again (`enrich: default`).
    #[serde(default)]
    pub get: Option<Enrich>,
    /// The retry request (or batch) and its outcome rules.
    #[serde(default)]
    pub retry: Option<Retry>,
    /// How to verify retried work: the read request and the final statuses.
    #[serde(default)]
    pub verify: Option<Verify>,
}
