//! PocketPaw "Deep Work" under `/deepwork`: projects whose Mission Control tasks get retried.
//!
//! Endpoints: `GET /api/mission-control/tasks?status=&assignee_id=&tags=&limit=` →
//! `{tasks, count}`, `GET /api/mission-control/tasks/{id}` → `{task, messages}`,
//! `GET /api/mission-control/projects[/{id}]`, `GET /api/deep-work/projects/{pid}/plan`, and
//! `POST /api/deep-work/projects/{pid}/tasks/{tid}/retry`. Errors are FastAPI's `{"detail": …}`.
//!
//! Invariants:
//! - Auth: `Authorization: Bearer pp_sandbox_token` or `?token=pp_sandbox_token`, else 401
//!   `{"detail":"Unauthorized"}`; the localhost bypass is off unless switched on.
//! - Seeded: `proj-alpha` (executing, 12 tasks, 5 blocked: 3 recent, 2 older than 7 days),
//!   `proj-beta` (failed, 8 tasks, 3 blocked: 2 recent, 1 old), `proj-gamma` (completed, 5 tasks,
//!   none blocked). Task ids are seeded UUIDs; "failed" work is status `blocked`.
//! - Retry only moves a `blocked` task of that project to `assigned`, adds one to `retry_count`,
//!   clears `error_message` and ignores `max_retries`; a failed project goes back to executing.
//! - Retried work settles (`settle.rs`): the first `settle_reads` reads of the task through
//!   `GET /api/mission-control/tasks/{id}` after a retry show it `in_progress`, the next one
//!   `done`, or `blocked` with an `error_message` again for one task in five (by seed and id), and
//!   it stays so; a task blocked again can be retried again, and is blocked again. The project's
//!   status is left as it is. Lists, projects and plans show where a task is without moving it.
//!   Snapshots add `sandbox_settles_to`: how a retry of the task ends (`null` for a task that
//!   cannot be retried and is not in motion).
//! - As PocketPaw 0.4.18 does (read from its source and measured on a real server):
//!   - a token bucket of 10 requests/s, burst 30, per client (one bucket: every client is on
//!     loopback) answers 429 `{"detail":"Too many requests"}` with `Retry-After` (whole seconds,
//!     rounded up) and sets `X-RateLimit-*` on every answer; on by default, changeable;
//!   - the task list and the projects list hold at most [`LIST_CAP`] entries, sorted by
//!     `updated_at` newest first, and `count` is taken after the cap (so it is at most 100 too);
//!     a project's own answer (`GET /api/mission-control/projects/{id}`) lists all its tasks;
//!   - a retry saves the reset before it dispatches the task: on a configurable share of retries
//!     (none by default) the dispatch fails and the answer is 500
//!     `{"detail":"Retry dispatch failed: …"}` although the task is already `assigned`;
//!   - an unknown task is 404 `{"detail":"Task not found"}`; an unknown route is FastAPI's own
//!     404 `{"detail":"Not Found"}`; with the retry route switched off (a 0.4.4 server) every
//!     retry gets the latter.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::reply::{self, QueryParams};
use super::settle::{self, Fate, Progress, Rule, Step};
use super::state::{Shared, lock, rfc3339, seeded_uuid};
use super::{Api, RateLimit};

pub(crate) const TOKEN: &str = "pp_sandbox_token";
const SALT: u64 = 0x6465_6570_776f_726b;
const DAY: i64 = 24 * 3600;
/// The most tasks (or projects) PocketPaw's store hands its list routes.
pub(crate) const LIST_CAP: usize = 100;
/// PocketPaw's API limiter: 10 requests a second per client, bursts of 30.
pub(crate) const RATE_LIMIT: RateLimit = RateLimit {
    per_second: 10.0,
    burst: 30,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Inbox,
    Assigned,
    InProgress,
    Review,
    Done,
    Blocked,
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Inbox => "inbox",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::Review => "review",
            Status::Done => "done",
            Status::Blocked => "blocked",
            Status::Skipped => "skipped",
        }
    }
}

/// Python's `datetime.isoformat()` of a UTC instant.
fn iso(secs: i64) -> String {
    let text = rfc3339(secs);
    match text.strip_suffix('Z') {
        Some(head) => format!("{head}+00:00"),
        None => text,
    }
}

#[derive(Debug, Clone)]
struct Project {
    id: &'static str,
    title: &'static str,
    status: &'static str,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Clone)]
struct Task {
    id: String,
    project_id: &'static str,
    title: String,
    status: Status,
    priority: &'static str,
    task_type: &'static str,
    created_at: i64,
    updated_at: i64,
    retry_count: u32,
    max_retries: u32,
    error_message: Option<&'static str>,
    estimated_minutes: u32,
    progress: Progress,
    /// How a retry of the task ends (`settle.rs`).
    fate: Fate,
}

/// Errors of blocked tasks, seeded and settled alike.
const ERRORS: [&str; 3] = [
    "Agent execution timed out after 30 minutes",
    "Tool 'browser' failed: net::ERR_NAME_NOT_RESOLVED",
    "LLM provider returned 529 overloaded",
];

/// The status a retried task settles to.
fn settled_status(fate: Fate) -> Status {
    match fate {
        Fate::Success => Status::Done,
        Fate::Failure => Status::Blocked,
    }
}

impl Task {
    fn to_json(&self) -> Value {
        let finished = matches!(
            self.status,
            Status::Done | Status::Blocked | Status::Skipped
        );
        json!({
            "id": self.id,
            "title": self.title,
            "description": format!("{} (seeded by the runbook sandbox)", self.title),
            "status": self.status.as_str(),
            "priority": self.priority,
            "assignee_ids": if self.task_type == "agent" { json!(["agent-claude"]) } else { json!(["user-sam"]) },
            "creator_id": "planner",
            "parent_task_id": null,
            "blocked_by": [],
            "tags": ["deep-work", self.project_id],
            "due_date": null,
            "started_at": (self.status != Status::Inbox && self.status != Status::Assigned).then(|| iso(self.created_at + 60)),
            "completed_at": finished.then(|| iso(self.updated_at)),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "metadata": {},
            "project_id": self.project_id,
            "task_type": self.task_type,
            "blocks": [],
            "active_description": null,
            "estimated_minutes": self.estimated_minutes,
            "retry_count": self.retry_count,
            "max_retries": self.max_retries,
            "error_message": self.error_message,
        })
    }
}

impl Project {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "description": format!("{} (seeded by the runbook sandbox)", self.title),
            "status": self.status,
            "creator_id": "user-sam",
            "tags": ["deep-work"],
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        })
    }
}

/// Token bucket state for the optional limiter.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    fn new(limit: RateLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            refilled_at: Instant::now(),
        }
    }

    /// Takes one token if there is one; `Err` holds the seconds until there will be.
    fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled_at).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.limit.per_second.max(f64::MIN_POSITIVE);
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// Seconds until the bucket is full again.
    fn seconds_to_full(&self) -> u64 {
        let missing = f64::from(self.limit.burst) - self.tokens;
        (missing / self.limit.per_second.max(f64::MIN_POSITIVE)).ceil() as u64
    }
}

/// The Deep Work projects and tasks, plus the limiter and bypass switches.
#[derive(Debug)]
pub(crate) struct Store {
    projects: Vec<Project>,
    /// In `created_at` descending order.
    tasks: Vec<Task>,
    bucket: Option<Bucket>,
    localhost_bypass: bool,
    /// The share of retries whose dispatch fails after the reset was saved (0.0 to 1.0).
    dispatch_failures: f64,
    /// Whether the retry route exists (PocketPaw 0.4.4 has none).
    retry_route: bool,
    seed: u64,
}

impl Store {
    pub(crate) fn seeded(seed: u64, now: i64) -> Store {
        use Status::{Assigned, Blocked, Done, InProgress, Inbox, Review, Skipped};
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let projects = vec![
            Project {
                id: "proj-alpha",
                title: "Launch landing page",
                status: "executing",
                created_at: now - 20 * DAY,
                updated_at: now - 600,
            },
            Project {
                id: "proj-beta",
                title: "Migrate billing data",
                status: "failed",
                created_at: now - 15 * DAY,
                updated_at: now - 3600,
            },
            Project {
                id: "proj-gamma",
                title: "Quarterly report",
                status: "completed",
                created_at: now - 28 * DAY,
                updated_at: now - 20 * DAY,
            },
        ];
        // (project, status, recent?, count); "recent" means within the last day, else 8–14 days ago.
        let plan: [(&'static str, Status, bool, usize); 13] = [
            ("proj-alpha", Blocked, true, 3),
            ("proj-alpha", Blocked, false, 2),
            ("proj-alpha", Done, false, 4),
            ("proj-alpha", InProgress, true, 1),
            ("proj-alpha", Assigned, true, 1),
            ("proj-alpha", Skipped, false, 1),
            ("proj-beta", Blocked, true, 2),
            ("proj-beta", Blocked, false, 1),
            ("proj-beta", Done, false, 3),
            ("proj-beta", Inbox, true, 1),
            ("proj-beta", Review, true, 1),
            ("proj-gamma", Done, false, 4),
            ("proj-gamma", Skipped, false, 1),
        ];
        const TITLES: [&str; 6] = [
            "Write hero copy",
            "Generate product screenshots",
            "Export invoices to CSV",
            "Validate customer records",
            "Draft summary section",
            "Publish to CDN",
        ];
        let mut tasks = Vec::new();
        for (project_id, status, recent, count) in plan {
            for _ in 0..count {
                let ago = if recent {
                    rng.random_range(300..DAY - 300)
                } else {
                    rng.random_range(8 * DAY..14 * DAY)
                };
                let created_at = now - ago;
                tasks.push(Task {
                    id: seeded_uuid(&mut rng),
                    project_id,
                    title: TITLES[rng.random_range(0..TITLES.len())].to_owned(),
                    status,
                    priority: ["low", "medium", "high", "urgent"][rng.random_range(0..4)],
                    task_type: if rng.random_range(0..5) == 0 {
                        "human"
                    } else {
                        "agent"
                    },
                    created_at,
                    updated_at: (created_at + rng.random_range(60..1800)).min(now),
                    retry_count: if status == Blocked { 1 } else { 0 },
                    max_retries: 1,
                    error_message: (status == Blocked)
                        .then(|| ERRORS[rng.random_range(0..ERRORS.len())]),
                    estimated_minutes: rng.random_range(5..120),
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                });
            }
        }
        tasks.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let blocked = tasks.iter().filter(|task| task.status == Blocked);
        let failing = settle::failing(seed, Api::Deepwork, blocked.map(|task| task.id.as_str()));
        for task in &mut tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        Store {
            projects,
            tasks,
            bucket: Some(Bucket::new(RATE_LIMIT)),
            localhost_bypass: false,
            dispatch_failures: 0.0,
            retry_route: true,
            seed,
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.tasks
            .iter()
            .map(|task| {
                let mut value = task.to_json();
                let settles_to = (task.status == Status::Blocked || task.progress.is_moving())
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
            Some(Step::InProgress { .. }) if task.status != Status::InProgress => {
                task.status = Status::InProgress;
                task.updated_at = now;
            }
            Some(Step::Settle) => {
                task.status = settled_status(task.fate);
                task.error_message = (task.fate == Fate::Failure)
                    .then(|| ERRORS[rule.pick(Api::Deepwork, &task.id, ERRORS.len())]);
                task.updated_at = now;
            }
            _ => {}
        }
        Some(task)
    }

    pub(crate) fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.bucket = limit.map(Bucket::new);
    }

    pub(crate) fn set_localhost_bypass(&mut self, bypass: bool) {
        self.localhost_bypass = bypass;
    }

    pub(crate) fn set_dispatch_failures(&mut self, share: f64) {
        self.dispatch_failures = share.clamp(0.0, 1.0);
    }

    pub(crate) fn set_retry_route(&mut self, exists: bool) {
        self.retry_route = exists;
    }

    /// Adds `count` blocked tasks, created within the last day, to `proj-alpha`; their ids.
    pub(crate) fn add_blocked(&mut self, count: usize, now: i64) -> Vec<String> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ SALT ^ self.tasks.len() as u64);
        let mut ids = Vec::new();
        for n in 0..count {
            let created_at = now - rng.random_range(600..DAY - 600);
            let id = seeded_uuid(&mut rng);
            ids.push(id.clone());
            self.tasks.push(Task {
                id,
                project_id: "proj-alpha",
                title: format!("Bulk task {n}"),
                status: Status::Blocked,
                priority: "medium",
                task_type: "agent",
                created_at,
                updated_at: created_at + 60,
                retry_count: 1,
                max_retries: 1,
                error_message: Some(ERRORS[n % ERRORS.len()]),
                estimated_minutes: 10,
                progress: Progress::Untouched,
                fate: Fate::Success,
            });
        }
        self.tasks.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        ids
    }

    /// Whether this retry's dispatch fails (by seed, task and attempt, so a run is repeatable).
    fn dispatch_fails(&self, task_id: &str, retry_count: u32) -> bool {
        if self.dispatch_failures <= 0.0 {
            return false;
        }
        let attempt = format!("{task_id}#{retry_count}");
        let hash = super::settle::draw(self.seed, super::Api::Deepwork, &attempt, 0);
        (hash % 10_000) as f64 / 10_000.0 < self.dispatch_failures
    }

    fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|project| project.id == id)
    }

    fn progress(&self, project_id: &str) -> Value {
        let tasks: Vec<&Task> = self
            .tasks
            .iter()
            .filter(|task| task.project_id == project_id)
            .collect();
        let count = |status: Status| tasks.iter().filter(|task| task.status == status).count();
        let total = tasks.len();
        let completed = count(Status::Done);
        let skipped = count(Status::Skipped);
        let human_pending = tasks
            .iter()
            .filter(|task| {
                task.task_type == "human" && !matches!(task.status, Status::Done | Status::Skipped)
            })
            .count();
        let percent = if total == 0 {
            0.0
        } else {
            ((completed + skipped) as f64 * 1000.0 / total as f64).round() / 10.0
        };
        json!({
            "total": total, "completed": completed, "skipped": skipped,
            "in_progress": count(Status::InProgress), "blocked": count(Status::Blocked),
            "human_pending": human_pending, "percent": percent,
        })
    }

    fn project_tasks(&self, project_id: &str) -> Vec<Value> {
        self.tasks
            .iter()
            .filter(|task| task.project_id == project_id)
            .map(Task::to_json)
            .collect()
    }
}

/// A FastAPI error answer `{"detail": …}`.
struct Detail {
    status: StatusCode,
    detail: Value,
}

impl Detail {
    fn new(status: StatusCode, detail: impl Into<Value>) -> Detail {
        Detail {
            status,
            detail: detail.into(),
        }
    }

    /// FastAPI's 422 for a query parameter that fails validation.
    fn invalid_query(name: &str, message: String) -> Detail {
        Detail::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"type": "value_error", "loc": ["query", name], "msg": message}]),
        )
    }
}

impl IntoResponse for Detail {
    fn into_response(self) -> Response {
        reply::json(self.status, json!({"detail": self.detail}))
    }
}

type Answer = Result<Response, Detail>;

fn authorize(shared: &Shared, headers: &HeaderMap, query: &QueryParams) -> Result<(), Detail> {
    if lock(&shared.deepwork).localhost_bypass {
        return Ok(());
    }
    let query_token = query.one("token").ok().flatten();
    if reply::bearer(headers) == Some(TOKEN) || query_token == Some(TOKEN) {
        Ok(())
    } else {
        Err(Detail::new(StatusCode::UNAUTHORIZED, "Unauthorized"))
    }
}

/// The `/deepwork` router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/mission-control/tasks", get(list_tasks))
        .route("/api/mission-control/tasks/{task_id}", get(get_task))
        .route("/api/mission-control/projects", get(list_projects))
        .route(
            "/api/mission-control/projects/{project_id}",
            get(get_project),
        )
        .route("/api/deep-work/projects/{project_id}/plan", get(get_plan))
        .route(
            "/api/deep-work/projects/{project_id}/tasks/{task_id}/retry",
            post(retry_task),
        )
        .fallback(|| async { Detail::new(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async {
            Detail::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        })
        .layer(from_fn_with_state(Arc::clone(&shared), rate_limit))
        .with_state(shared)
}

/// The optional token-bucket limiter in front of every Deep Work endpoint.
async fn rate_limit(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let verdict = lock(&shared.deepwork).bucket.as_mut().map(Bucket::take);
    let mut response = match verdict {
        Some(Err(wait_secs)) => {
            let mut response =
                Detail::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
            response
        }
        _ => next.run(request).await,
    };
    if let Some(bucket) = lock(&shared.deepwork).bucket {
        let reset = shared
            .clock
            .now_secs()
            .saturating_add(bucket.seconds_to_full() as i64);
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(bucket.limit.burst));
        headers.insert(
            "x-ratelimit-remaining",
            HeaderValue::from(bucket.tokens.floor() as u64),
        );
        headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    response
}

fn path_ids<T>(path: Result<Path<T>, PathRejection>) -> Result<T, Detail> {
    path.map(|Path(ids)| ids)
        .map_err(|_| Detail::new(StatusCode::NOT_FOUND, "Not Found"))
}

async fn list_tasks(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = QueryParams::parse(raw.as_deref());
    authorize(&shared, &headers, &query)?;
    let limit = query
        .number("limit", 100, 1, 1000)
        .map_err(|message| Detail::invalid_query("limit", message))?;
    let status = query
        .one("status")
        .ok()
        .flatten()
        .filter(|status| !status.is_empty());
    let assignee = query
        .one("assignee_id")
        .ok()
        .flatten()
        .filter(|id| !id.is_empty());
    let tags = query.list("tags");
    let store = lock(&shared.deepwork);
    let mut by_update: Vec<&Task> = store.tasks.iter().collect();
    by_update.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let matching: Vec<Value> = by_update
        .into_iter()
        .map(Task::to_json)
        .filter(|task| status.is_none_or(|status| task["status"] == json!(status)))
        .filter(|task| {
            assignee.is_none_or(|assignee| {
                task["assignee_ids"]
                    .as_array()
                    .is_some_and(|ids| ids.contains(&json!(assignee)))
            })
        })
        .filter(|task| {
            tags.iter().all(|tag| {
                task["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.contains(&json!(tag)))
            })
        })
        .take(LIST_CAP)
        .collect();
    let count = matching.len();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let tasks: Vec<Value> = matching.into_iter().take(limit).collect();
    Ok(reply::json(
        StatusCode::OK,
        json!({"tasks": tasks, "count": count}),
    ))
}

async fn get_task(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&shared, &headers, &QueryParams::parse(raw.as_deref()))?;
    let task_id = path_ids(path)?;
    let (rule, now) = (shared.settle_rule(), shared.clock.now_secs());
    let mut store = lock(&shared.deepwork);
    let task = store
        .read(&task_id, rule, now)
        .ok_or_else(|| Detail::new(StatusCode::NOT_FOUND, "Task not found"))?;
    Ok(reply::json(
        StatusCode::OK,
        json!({"task": task.to_json(), "messages": []}),
    ))
}

async fn list_projects(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let query = QueryParams::parse(raw.as_deref());
    authorize(&shared, &headers, &query)?;
    let limit = query
        .number("limit", 100, 1, 1000)
        .map_err(|message| Detail::invalid_query("limit", message))?;
    let status = query
        .one("status")
        .ok()
        .flatten()
        .filter(|status| !status.is_empty());
    let store = lock(&shared.deepwork);
    let matching: Vec<Value> = store
        .projects
        .iter()
        .filter(|project| status.is_none_or(|status| project.status == status))
        .map(Project::to_json)
        .take(LIST_CAP)
        .collect();
    let count = matching.len();
    let projects: Vec<Value> = matching
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(reply::json(
        StatusCode::OK,
        json!({"projects": projects, "count": count}),
    ))
}

async fn get_project(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&shared, &headers, &QueryParams::parse(raw.as_deref()))?;
    let project_id = path_ids(path)?;
    let store = lock(&shared.deepwork);
    let project = store
        .project(&project_id)
        .ok_or_else(|| Detail::new(StatusCode::NOT_FOUND, "Project not found"))?;
    Ok(reply::json(
        StatusCode::OK,
        json!({
            "project": project.to_json(),
            "tasks": store.project_tasks(project.id),
            "progress": store.progress(project.id),
        }),
    ))
}

async fn get_plan(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&shared, &headers, &QueryParams::parse(raw.as_deref()))?;
    let project_id = path_ids(path)?;
    let store = lock(&shared.deepwork);
    let project = store
        .project(&project_id)
        .ok_or_else(|| Detail::new(StatusCode::NOT_FOUND, "Project not found"))?;
    let tasks = store.project_tasks(project.id);
    let ids: Vec<Value> = tasks.iter().map(|task| task["id"].clone()).collect();
    let task_level_map: serde_json::Map<String, Value> = ids
        .iter()
        .filter_map(|id| id.as_str().map(|id| (id.to_owned(), json!(0))))
        .collect();
    Ok(reply::json(
        StatusCode::OK,
        json!({
            "project": project.to_json(),
            "tasks": tasks,
            "progress": store.progress(project.id),
            "prd": format!("# {}\n\nSeeded plan.", project.title),
            "execution_levels": [ids],
            "task_level_map": task_level_map,
            "goal_analysis": null,
        }),
    ))
}

async fn retry_task(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    authorize(&shared, &headers, &QueryParams::parse(raw.as_deref()))?;
    let (project_id, task_id) = path_ids(path)?;
    let now = shared.clock.now_secs();
    let mut store = lock(&shared.deepwork);
    if !store.retry_route {
        return Err(Detail::new(StatusCode::NOT_FOUND, "Not Found"));
    }
    if store.project(&project_id).is_none() {
        return Err(Detail::new(StatusCode::NOT_FOUND, "Project not found"));
    }
    let task = store
        .tasks
        .iter_mut()
        .find(|task| task.id == task_id)
        .ok_or_else(|| Detail::new(StatusCode::NOT_FOUND, "Task not found"))?;
    if task.project_id != project_id {
        return Err(Detail::new(
            StatusCode::BAD_REQUEST,
            "Task does not belong to this project",
        ));
    }
    if task.status != Status::Blocked {
        return Err(Detail::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Can only retry tasks with status 'blocked', got '{}'",
                task.status.as_str()
            ),
        ));
    }
    task.status = Status::Assigned;
    task.retry_count += 1;
    task.error_message = None;
    task.updated_at = now;
    task.progress.start();
    let retry_count = task.retry_count;
    let task = task.to_json();
    if let Some(project) = store
        .projects
        .iter_mut()
        .find(|project| project.id == project_id)
    {
        if project.status == "failed" {
            project.status = "executing";
        }
        project.updated_at = now;
    }
    if store.dispatch_fails(&task_id, retry_count) {
        // The reset is saved; only the dispatch failed.
        return Err(Detail::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Retry dispatch failed: the Deep Work session is not running (sandbox)",
        ));
    }
    let progress = store.progress(&project_id);
    Ok(reply::json(
        StatusCode::OK,
        json!({"success": true, "task": task, "progress": progress}),
    ))
}
