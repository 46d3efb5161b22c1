//! The generic task API under `/http`: the shape `runbook`'s own `http` provider targets.
//!
//! Endpoints: `GET /tasks` (status filter; page, offset or cursor pagination), `GET /tasks/{id}`,
//! `POST /tasks/{id}/retry`, `POST /tasks/retry` (batch of 1 to 50 ids). Every endpoint needs
//! `Authorization: Bearer sandbox-token`.
//!
//! Invariants:
//! - 60 seeded tasks `task-001`…`task-060` with exactly 24 failed, 6 timed_out, 6 canceled,
//!   18 succeeded and 6 running; the seed decides which id gets which status, its creation time
//!   (within the 10 days before start), name, error and attempts.
//! - Lists are ordered by `created_at` descending, then `id` ascending; a cursor is the position
//!   after the last task of a page (keyset), so a walk stays exact while tasks change status.
//! - Only `failed` and `timed_out` tasks can be retried; a retry makes the task `queued`, adds one
//!   to `attempts`, clears `error` and stamps `updated_at`.
//! - Retried work settles (`settle.rs`): the first `settle_reads` reads of the task through
//!   `GET /tasks/{id}` after a retry show it `running`, the next one `succeeded`, or `failed` with
//!   an `error` for one task in five (by seed and id), and it stays so. A task that settled to
//!   `failed` can be retried again, and fails again. Lists show where a task is without moving it.
//!   Nothing else ever changes a task. Snapshots add `sandbox_settles_to`: how a retry of the
//!   task ends (`null` for a task that cannot be retried and is not in motion).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::Api;
use super::reply::{self, QueryParams, shown};
use super::settle::{self, Fate, Progress, Rule, Step};
use super::state::{Shared, lock, rfc3339};

/// The bearer token the `http` API accepts (credential `TASKS_API_TOKEN`).
pub(crate) const TOKEN: &str = "sandbox-token";
const SALT: u64 = 0x6765_6e65_7269_6321;
const DEFAULT_PAGE_SIZE: u64 = 10;
const MAX_PAGE_SIZE: u64 = 100;
const MAX_BATCH: usize = 50;

/// Errors of failed tasks, seeded and settled alike.
const ERRORS: [&str; 4] = [
    "upstream returned 502 Bad Gateway",
    "connection reset by peer",
    "quota exceeded for resource 'storage'",
    "validation failed: missing field 'customer_id'",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Failed,
    TimedOut,
    Canceled,
    Succeeded,
    Running,
    Queued,
}

impl Status {
    const ALL: [Status; 6] = [
        Status::Failed,
        Status::TimedOut,
        Status::Canceled,
        Status::Succeeded,
        Status::Running,
        Status::Queued,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Canceled => "canceled",
            Status::Succeeded => "succeeded",
            Status::Running => "running",
            Status::Queued => "queued",
        }
    }

    fn parse(text: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    fn is_retryable(self) -> bool {
        matches!(self, Status::Failed | Status::TimedOut)
    }
}

#[derive(Debug, Clone)]
struct Task {
    id: String,
    name: String,
    status: Status,
    created_at: i64,
    updated_at: i64,
    error: Option<String>,
    attempts: u32,
    progress: Progress,
    /// How a retry of the task ends (`settle.rs`).
    fate: Fate,
}

impl Task {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "status": self.status.as_str(),
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "error": self.error,
            "attempts": self.attempts,
        })
    }

    /// Whether this task comes after the keyset position `(created_at, id)` in list order.
    fn is_after(&self, (created_at, id): (i64, &str)) -> bool {
        self.created_at < created_at || (self.created_at == created_at && self.id.as_str() > id)
    }
}

/// The `http` API's tasks, kept in list order.
#[derive(Debug)]
pub(crate) struct Store {
    tasks: Vec<Task>,
}

/// Why a single retry was refused.
enum RetryRefusal {
    NotFound,
    NotRetryable(Status),
}

impl Store {
    pub(crate) fn seeded(seed: u64, now: i64) -> Store {
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let mut statuses: Vec<Status> = [
            (Status::Failed, 24),
            (Status::TimedOut, 6),
            (Status::Canceled, 6),
            (Status::Succeeded, 18),
            (Status::Running, 6),
        ]
        .into_iter()
        .flat_map(|(status, count)| std::iter::repeat_n(status, count))
        .collect();
        statuses.shuffle(&mut rng);

        const JOBS: [&str; 6] = [
            "nightly-export",
            "invoice-sync",
            "thumbnail-render",
            "crm-import",
            "report-mail",
            "index-rebuild",
        ];
        let ten_days = 10 * 24 * 3600;
        let mut tasks: Vec<Task> = statuses
            .into_iter()
            .enumerate()
            .map(|(index, status)| {
                let created_at = now - rng.random_range(60..ten_days);
                let updated_at = match status {
                    Status::Running | Status::Queued => created_at,
                    _ => (created_at + rng.random_range(5..3600)).min(now),
                };
                let job = JOBS[rng.random_range(0..JOBS.len())];
                let error = match status {
                    Status::Failed => Some(ERRORS[rng.random_range(0..ERRORS.len())].to_owned()),
                    Status::TimedOut => Some("timed out after 300s".to_owned()),
                    _ => None,
                };
                let attempts = match status {
                    Status::Failed | Status::TimedOut => rng.random_range(1..=3),
                    Status::Running => 1,
                    _ => rng.random_range(1..=2),
                };
                Task {
                    id: format!("task-{:03}", index + 1),
                    name: format!("{job} #{}", rng.random_range(100..1000)),
                    status,
                    created_at,
                    updated_at,
                    error,
                    attempts,
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                }
            })
            .collect();
        tasks.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let retryable = tasks.iter().filter(|task| task.status.is_retryable());
        let failing = settle::failing(seed, Api::Http, retryable.map(|task| task.id.as_str()));
        for task in &mut tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        Store { tasks }
    }

    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.tasks
            .iter()
            .map(|task| {
                let mut value = task.to_json();
                let settles_to = (task.status.is_retryable() || task.progress.is_moving())
                    .then(|| settled_status(task.fate).as_str());
                value["sandbox_settles_to"] = json!(settles_to);
                value
            })
            .collect()
    }

    pub(crate) fn settled(&self) -> Vec<(String, String)> {
        self.tasks
            .iter()
            .filter(|task| task.progress.is_settled())
            .map(|task| (task.id.clone(), task.status.as_str().to_owned()))
            .collect()
    }

    /// Reads one task through its get-one endpoint, moving it on if a retry put it in motion.
    fn read(&mut self, id: &str, rule: Rule, now: i64) -> Option<&Task> {
        let task = self.tasks.iter_mut().find(|task| task.id == id)?;
        match task.progress.read(rule) {
            Some(Step::InProgress { .. }) if task.status != Status::Running => {
                task.status = Status::Running;
                task.updated_at = now;
            }
            Some(Step::Settle) => {
                task.status = settled_status(task.fate);
                task.error = (task.fate == Fate::Failure)
                    .then(|| ERRORS[rule.pick(Api::Http, &task.id, ERRORS.len())].to_owned());
                task.updated_at = now;
            }
            _ => {}
        }
        Some(task)
    }

    fn retry(&mut self, id: &str, now: i64) -> Result<(), RetryRefusal> {
        let task = self
            .tasks
            .iter_mut()
            .find(|task| task.id == id)
            .ok_or(RetryRefusal::NotFound)?;
        if !task.status.is_retryable() {
            return Err(RetryRefusal::NotRetryable(task.status));
        }
        task.status = Status::Queued;
        task.attempts += 1;
        task.updated_at = now;
        task.error = None;
        task.progress.start();
        Ok(())
    }
}

/// The status a retried task settles to.
fn settled_status(fate: Fate) -> Status {
    match fate {
        Fate::Success => Status::Succeeded,
        Fate::Failure => Status::Failed,
    }
}

/// The `/http` router (state: the shared sandbox).
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/tasks", get(list_tasks))
        .route("/tasks/retry", post(retry_batch))
        .route("/tasks/{id}", get(get_task))
        .route("/tasks/{id}/retry", post(retry_one))
        .fallback(not_found_route)
        .method_not_allowed_fallback(method_not_allowed)
}

/// An error answer of the `http` API: `{"error": code, "message": message}`.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no task {}", shown(id)),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        reply::json(
            self.status,
            json!({"error": self.code, "message": self.message}),
        )
    }
}

type Answer = Result<Response, ApiError>;

fn authorize(headers: &HeaderMap) -> Result<(), ApiError> {
    match reply::bearer(headers) {
        Some(TOKEN) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )),
    }
}

fn task_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|rejection| ApiError::bad_request(format!("invalid task id in path: {rejection}")))
}

async fn not_found_route(headers: HeaderMap) -> ApiError {
    if let Err(refusal) = authorize(&headers) {
        return refusal;
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

/// How the client asked to page through the list.
#[derive(Debug, Clone)]
enum Paging {
    Page {
        page: u64,
        per_page: u64,
    },
    Offset {
        offset: u64,
        limit: u64,
    },
    Cursor {
        after: Option<(i64, String)>,
        limit: u64,
    },
}

impl Paging {
    fn parse(query: &QueryParams) -> Result<Paging, String> {
        let page_style = query.has("page") || query.has("per_page");
        let offset_style = query.has("offset");
        if query.has("cursor") {
            if page_style || offset_style {
                return Err(
                    "'cursor' cannot be combined with 'page', 'per_page' or 'offset'".into(),
                );
            }
            let cursor = query.one("cursor")?.unwrap_or_default();
            let after = if cursor.is_empty() {
                None
            } else {
                Some(decode_cursor(cursor)?)
            };
            let limit = query.number("limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
            return Ok(Paging::Cursor { after, limit });
        }
        if page_style {
            if offset_style || query.has("limit") {
                return Err("'page'/'per_page' cannot be combined with 'offset'/'limit'".into());
            }
            let page = query.number("page", 1, 1, u64::from(u32::MAX))?;
            let per_page = query.number("per_page", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
            return Ok(Paging::Page { page, per_page });
        }
        if offset_style || query.has("limit") {
            let offset = query.number("offset", 0, 0, u64::from(u32::MAX))?;
            let limit = query.number("limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
            return Ok(Paging::Offset { offset, limit });
        }
        Ok(Paging::Page {
            page: 1,
            per_page: DEFAULT_PAGE_SIZE,
        })
    }

    /// Query parameters of the page after this one, given the cursor after its last task.
    fn next_params(&self, next_cursor: &str) -> Vec<(&'static str, String)> {
        match self {
            Paging::Page { page, per_page } => {
                vec![
                    ("page", (page + 1).to_string()),
                    ("per_page", per_page.to_string()),
                ]
            }
            Paging::Offset { offset, limit } => {
                vec![
                    ("offset", (offset + limit).to_string()),
                    ("limit", limit.to_string()),
                ]
            }
            Paging::Cursor { limit, .. } => {
                vec![
                    ("cursor", next_cursor.to_owned()),
                    ("limit", limit.to_string()),
                ]
            }
        }
    }
}

/// Cursors are hex so they are opaque and URL-safe; they hold the last task's sort key.
fn encode_cursor(task: &Task) -> String {
    hex::encode(format!("v1:{}:{}", task.created_at, task.id))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), String> {
    let invalid = || format!("invalid cursor '{}'", shown(cursor));
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let rest = text.strip_prefix("v1:").ok_or_else(invalid)?;
    let (created_at, id) = rest.split_once(':').ok_or_else(invalid)?;
    let created_at = created_at.parse().map_err(|_| invalid())?;
    Ok((created_at, id.to_owned()))
}

fn status_filter(query: &QueryParams) -> Result<Vec<Status>, String> {
    query
        .list("status")
        .into_iter()
        .map(|text| {
            Status::parse(text).ok_or_else(|| {
                let known: Vec<_> = Status::ALL.iter().map(|status| status.as_str()).collect();
                format!(
                    "unknown status '{}'; expected one of {}",
                    shown(text),
                    known.join(", ")
                )
            })
        })
        .collect()
}

async fn list_tasks(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    authorize(&headers)?;
    let query = QueryParams::parse(raw.as_deref());
    let filter = status_filter(&query).map_err(ApiError::bad_request)?;
    let paging = Paging::parse(&query).map_err(ApiError::bad_request)?;

    let store = lock(&shared.http);
    let matching: Vec<&Task> = store
        .tasks
        .iter()
        .filter(|task| filter.is_empty() || filter.contains(&task.status))
        .collect();
    let total = matching.len();
    let (start, size) = match &paging {
        Paging::Page { page, per_page } => {
            (page.saturating_sub(1).saturating_mul(*per_page), *per_page)
        }
        Paging::Offset { offset, limit } => (*offset, *limit),
        Paging::Cursor { after, limit } => {
            let start = match after {
                Some((created_at, id)) => matching
                    .iter()
                    .position(|task| task.is_after((*created_at, id)))
                    .unwrap_or(total),
                None => 0,
            };
            (start as u64, *limit)
        }
    };
    let start = usize::try_from(start).unwrap_or(usize::MAX).min(total);
    let end = start
        .saturating_add(usize::try_from(size).unwrap_or(usize::MAX))
        .min(total);
    let page = &matching[start..end];

    let next_cursor = match page.last() {
        Some(last) if end < total => Some(encode_cursor(last)),
        _ => None,
    };
    let next = next_cursor.as_deref().map(|cursor| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for status in &filter {
            url.append_pair("status", status.as_str());
        }
        for (key, value) in paging.next_params(cursor) {
            url.append_pair(key, &value);
        }
        format!("{}/http/tasks?{}", shared.origin, url.finish())
    });
    let body = json!({
        "tasks": page.iter().map(|task| task.to_json()).collect::<Vec<_>>(),
        "total": total,
        "next_cursor": next_cursor,
        "next": next,
    });
    drop(store);

    let mut response = reply::json(StatusCode::OK, body);
    if let Some(link) =
        next.and_then(|next| HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")).ok())
    {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

fn not_retryable_message(id: &str, status: Status) -> String {
    format!(
        "task {} is {}; only failed or timed_out tasks can be retried",
        shown(id),
        status.as_str()
    )
}

async fn get_task(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&headers)?;
    let id = task_id(path)?;
    let (rule, now) = (shared.settle_rule(), shared.clock.now_secs());
    match lock(&shared.http).read(&id, rule, now) {
        Some(task) => Ok(reply::json(StatusCode::OK, task.to_json())),
        None => Err(ApiError::not_found(&id)),
    }
}

async fn retry_one(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&headers)?;
    let id = task_id(path)?;
    let now = shared.clock.now_secs();
    match lock(&shared.http).retry(&id, now) {
        Ok(()) => Ok(reply::json(
            StatusCode::OK,
            json!({"id": id, "status": "queued"}),
        )),
        Err(RetryRefusal::NotFound) => Err(ApiError::not_found(&id)),
        Err(RetryRefusal::NotRetryable(status)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_retryable",
            not_retryable_message(&id, status),
        )),
    }
}

/// The ids of a batch retry body, or why the body is unacceptable.
fn batch_ids(body: &[u8]) -> Result<Vec<String>, String> {
    let value = reply::json_body(body, Value::Null)?;
    let shape_error =
        || format!("body must be {{\"ids\": [...]}} with 1 to {MAX_BATCH} task id strings");
    let ids = value
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(shape_error)?;
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(shape_error());
    }
    ids.iter()
        .map(|id| id.as_str().map(str::to_owned).ok_or_else(shape_error))
        .collect()
}

async fn retry_batch(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Answer {
    authorize(&headers)?;
    let ids = batch_ids(&body).map_err(ApiError::bad_request)?;
    let now = shared.clock.now_secs();
    let mut store = lock(&shared.http);
    let results: Vec<Value> = ids
        .iter()
        .map(|id| match store.retry(id, now) {
            Ok(()) => json!({"id": id, "ok": true}),
            Err(RetryRefusal::NotFound) => json!({
                "id": id, "ok": false, "code": "NOT_FOUND", "message": format!("no task {}", shown(id)),
            }),
            Err(RetryRefusal::NotRetryable(status)) => json!({
                "id": id, "ok": false, "code": "NOT_RETRYABLE", "message": not_retryable_message(id, status),
            }),
        })
        .collect();
    Ok(reply::json(StatusCode::OK, json!({"results": results})))
}
