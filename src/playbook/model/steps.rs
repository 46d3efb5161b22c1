//! The steps that read and keep items and write reports: `fetch` (with its listing and pagination),
//! `filter`, `verify` and `report`; the step itself names one of them.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Count, OneOrMany, Request, Retry, Spanned, Statuses, TaskFields};

/// One step. Exactly one of `fetch`, `filter`, `retry`, `report` is given.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
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
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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
    #[schemars(with = "Option<super::DurationText>")]
    pub every: Option<Spanned<String>>,
    /// How long to wait for the work to settle (default `10m`).
    #[serde(default)]
    #[schemars(with = "Option<super::DurationText>")]
    pub timeout: Option<Spanned<String>>,
    /// Reads in flight at once (default 1).
    #[serde(default)]
    #[schemars(with = "Option<Count>")]
    pub concurrency: Option<Spanned<Count>>,
    /// A rate limit of these reads, e.g. `5/s` (the connection's applies too).
    #[serde(default)]
    #[schemars(with = "Option<super::RateText>")]
    pub rate: Option<Spanned<String>>,
}

/// Fetch items: by HTTP (with pagination), from a local JSON file, or from a list of ids.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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
    #[schemars(with = "Option<super::DurationText>")]
    pub stop_before: Option<Spanned<String>>,
    /// Most items this step may fetch (default 50000; a number or a template over `vars`). More
    /// abort the run (exit 3) rather than hold an unbounded list in memory.
    #[serde(default)]
    #[schemars(with = "Option<Count>")]
    pub max_items: Option<Spanned<Count>>,
}

/// One HTTP listing: a request, where its items are, and how to page it (`fetch: each:`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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

#[derive(Clone, Debug, Deserialize, JsonSchema)]
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

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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
#[derive(Clone, Debug, Deserialize, JsonSchema)]
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
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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
    #[schemars(with = "Option<super::DurationText>")]
    pub since: Option<Spanned<String>>,
    /// Keep items created at least this long ago, e.g. `1h`.
    #[serde(default)]
    #[schemars(with = "Option<super::DurationText>")]
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

/// Write reports.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
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
    pub notify: Option<super::Notify>,
}
