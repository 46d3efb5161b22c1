//! Herodotus Data Processor tasks under `/herodotus`.
//!
//! Endpoints: `GET /tasks/{uuid}/status` and `GET /tasks/{uuid}/state_transitions` (no auth, like
//! the real API), `POST /tasks/{uuid}/retry` (needs `X-API-KEY`). The real list endpoint is not
//! documented, so `GET /tasks` answers only after [`super::Sandbox::set_herodotus_list`]; tests find
//! the seeded ids through `Sandbox::tasks("herodotus")` or `GET /_sandbox/ids/herodotus`.
//!
//! Invariants:
//! - 20 seeded tasks with ULID ids: 10 in a `*Failed` status (DryRunFailed 2, ChainProofsFetchFailed
//!   1, TraceGenFailed 2, AtlanticProvingFailed 2, TaskDecommitmentFailed 3, of which exactly one
//!   has no results and cannot be retried), 10 not failed (TaskDecommitmentCompleted 6,
//!   AtlanticProvingStarted 2, TraceGenStarted 1, Received 1). Three of the failed tasks and some
//!   completed ones are older than 7 days.
//! - `errorMessage` is set exactly on `*Failed` tasks.
//! - Every status change appends a state-transition row; a retry moves a failed task to `Received`
//!   and clears its error. Retrying a task that is not failed is refused with 400 (undocumented in
//!   the real API).
//! - Retried work settles (`settle.rs`) through `GET /tasks/{uuid}/status` reads: the first
//!   `settle_reads` reads after a retry show the pipeline running, the n-th read at the n-th
//!   `…Started` stage of its route (and no further than the last one); the next read shows the end
//!   of the route, and it stays so. A full retry runs DryRunStarted, DryRunCompleted, … to
//!   TaskDecommitmentCompleted, or, for one task in five (by seed and id), stops at the stage that
//!   failed before with the same `*Failed` status and `errorMessage`. A decommitment-only retry runs
//!   TaskDecommitmentStarted to TaskDecommitmentCompleted or TaskDecommitmentFailed. Every status
//!   a read passes through, shown or not, gets its transition row; a failed task can be retried
//!   again, and fails again. `state_transitions` and the list show where a task is without moving
//!   it. Snapshots add `sandbox_settles_to`: how a retry of the task ends (`null` for a task that
//!   cannot be retried and is not in motion).

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::Api;
use super::reply::{self, QueryParams};
use super::settle::{self, Fate, Progress, Rule, Step};
use super::state::{Shared, lock, rfc3339};

pub(crate) const API_KEY: &str = "hd_sandbox_key";
const SALT: u64 = 0x6865_726f_646f_7475;
const DAY: i64 = 24 * 3600;

/// The pipeline stages in order; each has `Started`, `Completed` and `Failed` statuses.
const STAGES: [&str; 5] = [
    "DryRun",
    "ChainProofsFetch",
    "TraceGen",
    "AtlanticProving",
    "TaskDecommitment",
];

/// The statuses a task passes through to reach `status`, starting at `Received`.
fn path_to(status: &str) -> Vec<String> {
    let mut path = vec!["Received".to_owned()];
    for stage in STAGES {
        let started = format!("{stage}Started");
        if status == started {
            path.push(started);
            return path;
        }
        path.push(started);
        let failed = format!("{stage}Failed");
        if status == failed {
            path.push(failed);
            return path;
        }
        path.push(format!("{stage}Completed"));
        if status == format!("{stage}Completed") {
            return path;
        }
    }
    path.truncate(1);
    path
}

fn is_failed(status: &str) -> bool {
    status.ends_with("Failed")
}

/// Whether a task in `status` can be retried (a decommitment re-run needs the task's results).
fn is_retryable(status: &str, has_results: bool) -> bool {
    is_failed(status) && (status != "TaskDecommitmentFailed" || has_results)
}

/// The statuses after `Received` that a retry of a task failed with `failed` runs through, ending
/// with the one it settles to: a decommitment-only re-run for TaskDecommitmentFailed, the whole
/// pipeline otherwise; a failure stops at the stage that failed before.
fn retry_route(failed: &str, fate: Fate) -> Vec<String> {
    let last = STAGES.len() - 1;
    let failed_stage = STAGES
        .iter()
        .position(|stage| failed == format!("{stage}Failed"))
        .unwrap_or(last);
    let first = if failed_stage == last { last } else { 0 };
    let stop = match fate {
        Fate::Success => last,
        Fate::Failure => failed_stage,
    };
    let mut route = Vec::new();
    for (index, stage) in STAGES.iter().enumerate().take(stop + 1).skip(first) {
        route.push(format!("{stage}Started"));
        if index < stop {
            route.push(format!("{stage}Completed"));
        }
    }
    route.push(match fate {
        Fate::Success => format!("{}Completed", STAGES[last]),
        Fate::Failure => format!("{}Failed", STAGES[stop]),
    });
    route
}

/// Crockford base32, as ULIDs use.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Where ULID time parts are anchored (2026-01-01T00:00:00Z): seeded ids must not depend on the
/// wall clock, yet should sort like their creation times.
const ULID_ANCHOR_SECS: i64 = 1_767_225_600;

/// A ULID for a task created `ago_secs` before sandbox start, with seeded randomness.
fn seeded_ulid(rng: &mut StdRng, ago_secs: i64) -> String {
    let secs = u128::try_from(ULID_ANCHOR_SECS - ago_secs).unwrap_or(0);
    let millis = secs * 1000 + rng.random_range(0..1000);
    let random: u128 = rng.random::<u128>() >> 48;
    let value = (millis << 80) | random;
    (0..26)
        .rev()
        .map(|index| CROCKFORD[((value >> (index * 5)) & 31) as usize] as char)
        .collect()
}

#[derive(Debug, Clone)]
struct Transition {
    id: u64,
    from: Option<String>,
    to: String,
    at: i64,
}

#[derive(Debug, Clone)]
struct Task {
    id: String,
    status: String,
    error_message: Option<String>,
    created_at: i64,
    updated_at: i64,
    has_results: bool,
    transitions: Vec<Transition>,
    progress: Progress,
    /// How a retry of the task ends (`settle.rs`).
    fate: Fate,
    /// The route of the retry in motion ([`retry_route`]), and how far along it the task is
    /// (`None`: still at `Received`).
    route: Vec<String>,
    position: Option<usize>,
}

impl Task {
    fn status_json(&self) -> Value {
        json!({
            "taskId": self.id,
            "status": self.status,
            "errorMessage": self.error_message,
            "updatedAt": rfc3339(self.updated_at),
        })
    }

    fn transitions_json(&self) -> Value {
        let rows: Vec<Value> = self
            .transitions
            .iter()
            .map(|row| {
                json!({
                    "id": row.id, "task_id": self.id, "from_status": row.from,
                    "to_status": row.to, "created_at": rfc3339(row.at),
                })
            })
            .collect();
        json!({"taskId": self.id, "state_transitions": rows})
    }
}

/// The Herodotus tasks, newest first.
#[derive(Debug)]
pub(crate) struct Store {
    tasks: Vec<Task>,
    next_transition_id: u64,
    list_enabled: bool,
}

impl Store {
    pub(crate) fn seeded(seed: u64, now: i64) -> Store {
        // (status, recent?, has results, count); "recent" is within the last day, else 8–20 days ago.
        let plan: [(&str, bool, bool, usize); 13] = [
            ("DryRunFailed", true, false, 1),
            ("DryRunFailed", false, false, 1),
            ("ChainProofsFetchFailed", true, false, 1),
            ("TraceGenFailed", true, false, 2),
            ("AtlanticProvingFailed", true, false, 1),
            ("AtlanticProvingFailed", false, false, 1),
            ("TaskDecommitmentFailed", true, true, 1),
            ("TaskDecommitmentFailed", false, true, 1),
            ("TaskDecommitmentFailed", true, false, 1),
            ("TaskDecommitmentCompleted", true, true, 3),
            ("TaskDecommitmentCompleted", false, true, 3),
            ("AtlanticProvingStarted", true, false, 2),
            ("TraceGenStarted", true, false, 1),
        ];
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let mut store = Store {
            tasks: Vec::new(),
            next_transition_id: 1,
            list_enabled: false,
        };
        let plan = plan.into_iter().chain([("Received", true, false, 1)]);
        for (status, recent, has_results, count) in plan {
            for _ in 0..count {
                let ago = if recent {
                    rng.random_range(3600..DAY - 600)
                } else {
                    rng.random_range(8 * DAY..20 * DAY)
                };
                let created_at = now - ago;
                let id = seeded_ulid(&mut rng, ago);
                let mut at = created_at;
                let mut from = None;
                let mut transitions = Vec::new();
                for to in path_to(status) {
                    transitions.push(Transition {
                        id: store.next_transition_id,
                        from: from.replace(to.clone()),
                        to,
                        at,
                    });
                    store.next_transition_id += 1;
                    at += rng.random_range(5..300);
                }
                let updated_at = transitions.last().map_or(created_at, |row| row.at);
                store.tasks.push(Task {
                    error_message: is_failed(status).then(|| failure_message(status, has_results)),
                    id,
                    status: status.to_owned(),
                    created_at,
                    updated_at,
                    has_results,
                    transitions,
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                    route: Vec::new(),
                    position: None,
                });
            }
        }
        store.tasks.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let retryable = (store.tasks.iter())
            .filter(|task| is_retryable(&task.status, task.has_results))
            .map(|task| task.id.as_str());
        let failing = settle::failing(seed, Api::Herodotus, retryable);
        for task in &mut store.tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        store
    }

    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.tasks
            .iter()
            .map(|task| {
                let mut value = task.status_json();
                value["createdAt"] = json!(rfc3339(task.created_at));
                value["hasResults"] = json!(task.has_results);
                value["transitionCount"] = json!(task.transitions.len());
                let settles_to = if task.progress.is_moving() {
                    task.route.last().cloned()
                } else if is_retryable(&task.status, task.has_results) {
                    retry_route(&task.status, task.fate).pop()
                } else {
                    None
                };
                value["sandbox_settles_to"] = json!(settles_to);
                value
            })
            .collect()
    }

    pub(crate) fn settled(&self) -> Vec<(String, String)> {
        self.tasks
            .iter()
            .filter(|task| task.progress.is_settled())
            .map(|task| (task.id.clone(), task.status.clone()))
            .collect()
    }

    /// Reads one task's status, moving it along its retry route if a retry put it in motion.
    fn read(&mut self, id: &str, rule: Rule, now: i64) -> Option<&Task> {
        let index = self.tasks.iter().position(|task| task.id == id)?;
        let task = &mut self.tasks[index];
        let target = match task.progress.read(rule) {
            None => None,
            Some(Step::InProgress { nth }) => {
                let started: Vec<usize> = (0..task.route.len())
                    .filter(|&at| task.route[at].ends_with("Started"))
                    .collect();
                let nth = usize::try_from(nth).unwrap_or(usize::MAX);
                started.get(nth - 1).or(started.last()).copied()
            }
            Some(Step::Settle) => task.route.len().checked_sub(1),
        };
        if let Some(target) = target {
            let from = task.position.map_or(0, |at| at + 1);
            for at in from..=target {
                let to = task.route[at].clone();
                task.transitions.push(Transition {
                    id: self.next_transition_id,
                    from: Some(std::mem::replace(&mut task.status, to.clone())),
                    to,
                    at: now,
                });
                self.next_transition_id += 1;
                task.updated_at = now;
            }
            task.position = Some(target);
            if task.progress.is_settled() {
                if is_failed(&task.status) {
                    task.error_message = Some(failure_message(&task.status, task.has_results));
                } else {
                    task.has_results = true;
                }
            }
        }
        Some(&self.tasks[index])
    }

    pub(crate) fn set_list_enabled(&mut self, enabled: bool) {
        self.list_enabled = enabled;
    }

    fn find(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|task| task.id == id)
    }
}

fn failure_message(status: &str, has_results: bool) -> String {
    match status {
        "DryRunFailed" => "Dry run failed: module panicked at 'index out of bounds'".to_owned(),
        "ChainProofsFetchFailed" => "Failed to fetch storage proofs: RPC timeout".to_owned(),
        "TraceGenFailed" => "Trace generation failed: out of memory".to_owned(),
        "AtlanticProvingFailed" => "Atlantic proving job failed: prover unavailable".to_owned(),
        _ if has_results => "Decommitment transaction reverted: nonce too low".to_owned(),
        _ => "Decommitment failed: task results missing".to_owned(),
    }
}

/// A Herodotus error answer: a JSON object such as `{"error": …, "uuid": …}`.
struct HdError {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for HdError {
    fn into_response(self) -> Response {
        reply::json(self.status, self.body)
    }
}

fn hd_error(status: StatusCode, body: Value) -> HdError {
    HdError { status, body }
}

type Answer = Result<Response, HdError>;

/// The `/herodotus` router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/tasks", get(list_tasks))
        .route("/tasks/{uuid}/status", get(task_status))
        .route("/tasks/{uuid}/state_transitions", get(task_transitions))
        .route("/tasks/{uuid}/retry", post(retry_task))
        .fallback(|| async { hd_error(StatusCode::NOT_FOUND, json!({"error": "Not Found"})) })
        .method_not_allowed_fallback(|| async {
            hd_error(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"error": "Method Not Allowed"}),
            )
        })
        .with_state(shared)
}

fn task_id(path: Result<Path<String>, PathRejection>) -> Result<String, HdError> {
    path.map(|Path(id)| id)
        .map_err(|_| hd_error(StatusCode::BAD_REQUEST, json!({"error": "Invalid task id"})))
}

fn not_found(key: &str, id: &str) -> HdError {
    hd_error(
        StatusCode::NOT_FOUND,
        json!({"error": "Task not found", key: reply::shown(id)}),
    )
}

async fn list_tasks(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Answer {
    let store = lock(&shared.herodotus);
    if !store.list_enabled {
        return Err(hd_error(
            StatusCode::NOT_FOUND,
            json!({"error": "Not Found"}),
        ));
    }
    let query = QueryParams::parse(raw.as_deref());
    let statuses = query.list("status");
    let tasks: Vec<Value> = store
        .tasks
        .iter()
        .filter(|task| statuses.is_empty() || statuses.contains(&task.status.as_str()))
        .map(Task::status_json)
        .collect();
    Ok(reply::json(StatusCode::OK, json!({"tasks": tasks})))
}

async fn task_status(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = task_id(path)?;
    let (rule, now) = (shared.settle_rule(), shared.clock.now_secs());
    let mut store = lock(&shared.herodotus);
    let task = store
        .read(&id, rule, now)
        .ok_or_else(|| not_found("taskId", &id))?;
    Ok(reply::json(StatusCode::OK, task.status_json()))
}

async fn task_transitions(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = task_id(path)?;
    let store = lock(&shared.herodotus);
    let task = store.find(&id).ok_or_else(|| not_found("taskId", &id))?;
    Ok(reply::json(StatusCode::OK, task.transitions_json()))
}

async fn retry_task(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    match reply::header(&headers, "x-api-key") {
        None | Some("") => {
            return Err(hd_error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "Missing Herodotus Cloud X-API-KEY header"}),
            ));
        }
        Some(API_KEY) => {}
        Some(_) => {
            return Err(hd_error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "Invalid Herodotus Cloud X-API-KEY header"}),
            ));
        }
    }
    let id = task_id(path)?;
    let now = shared.clock.now_secs();
    let mut store = lock(&shared.herodotus);
    let transition_id = store.next_transition_id;
    let task = store
        .tasks
        .iter_mut()
        .find(|task| task.id == id)
        .ok_or_else(|| not_found("uuid", &id))?;
    if !is_failed(&task.status) {
        return Err(hd_error(
            StatusCode::BAD_REQUEST,
            json!({
                "error": "Task is not in a failed state",
                "details": format!("Only failed tasks can be retried; task {} is {}.", task.id, task.status),
            }),
        ));
    }
    if task.status == "TaskDecommitmentFailed" && !task.has_results {
        return Err(hd_error(
            StatusCode::BAD_REQUEST,
            json!({
                "error": "Cannot retry decommitment",
                "details": "Task results are missing. Cannot retry decommitment without results.",
            }),
        ));
    }
    task.route = retry_route(&task.status, task.fate);
    task.position = None;
    task.progress.start();
    let previous = std::mem::replace(&mut task.status, "Received".to_owned());
    task.error_message = None;
    task.updated_at = now;
    task.transitions.push(Transition {
        id: transition_id,
        from: Some(previous),
        to: "Received".to_owned(),
        at: now,
    });
    store.next_transition_id += 1;
    Ok(reply::json(
        StatusCode::OK,
        json!({"message": "Task has been queued for retry", "status": "accepted", "uuid": id}),
    ))
}
