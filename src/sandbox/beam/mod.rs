//! Beam.ai agent tasks, served twice: `/beam` stands in for the "bid" workspace host
//! (`api.bid.beamstudio.ai`) and `/beam-prod` for `api.beamstudio.ai`, each with its own key and
//! workspace id.
//!
//! Endpoints: `GET /agent-tasks` (agentId, comma-separated statuses, startDate/endDate on createdAt,
//! searchQuery, ordering, pageNum/pageSize, grouping), `GET /agent-tasks/latest-executions`,
//! `GET /agent-tasks/{taskId}`, `POST /agent-tasks/retry {"taskId"}` → 201 with an empty body.
//! Errors use NestJS's default bodies (`{"statusCode","message","error"}`).
//!
//! Invariants:
//! - Auth is `x-api-key: <key>` or `Authorization: Bearer <key>` (the host's key only), plus
//!   `current-workspace-id: <the host's workspace>`: a wrong or missing key is 401, a missing
//!   workspace header 401, another workspace 403.
//! - Seeded per host (same plan, different ids): agent `agent-sandbox-1` has 36 tasks, 21 of them
//!   retryable (FAILED, ERROR, STOPPED, TIMEOUT): 14 created in the last day, 3 one to seven days
//!   ago, 4 more than seven days ago; agent `agent-sandbox-2` has 8 tasks, 4 retryable (3 in the last
//!   day, 1 older than seven days).
//! - A retry is accepted for a retryable task only (what Beam does for others is undocumented; here
//!   400): the task becomes QUEUED, `manualRetryCount` goes up by one, `updatedAt` is stamped.
//! - Retried work settles (`settle.rs`): the first `settle_reads` reads of the task through
//!   `GET /agent-tasks/{taskId}` after a retry show it IN_PROGRESS, the next one COMPLETED, or
//!   FAILED with an integration error for one task in five (by seed, host and id), and it stays
//!   so; a FAILED task can be retried again, and fails again. Lists and latest-executions show
//!   where a task is without moving it. Snapshots add `sandbox_settles_to`: how a retry of the task
//!   ends (`null` for a task that cannot be retried and is not in motion).
//! - The list is grouped (`{data:[{tasks,groupName,groupId,groupCount,groupIcon}],totalCount}`) by
//!   status unless `grouping=agent`; the legacy flat shape (`{data:[…],pagination:{…}}`) is served
//!   with `shape=flat` or after [`super::Sandbox::set_beam_flat_list`].

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::Api;
use super::reply::{self, QueryParams, shown};
use super::settle::{self, Fate, Progress, Rule, Step};
use super::state::{Shared, lock, parse_instant, rfc3339, seeded_uuid};

pub(crate) const BID_API_KEY: &str = "bm_key_sandbox_bid";
pub(crate) const BID_WORKSPACE_ID: &str = "ws-sandbox-bid";
pub(crate) const PROD_API_KEY: &str = "bm_key_sandbox_prod";
pub(crate) const PROD_WORKSPACE_ID: &str = "ws-sandbox-prod";
pub(crate) const MAIN_AGENT: &str = "agent-sandbox-1";
pub(crate) const OTHER_AGENT: &str = "agent-sandbox-2";
const MAX_PAGE_SIZE: u64 = 100;
const DAY: i64 = 24 * 3600;

/// Which Beam host a store stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workspace {
    Bid,
    Prod,
}

impl Workspace {
    fn api_key(self) -> &'static str {
        match self {
            Workspace::Bid => BID_API_KEY,
            Workspace::Prod => PROD_API_KEY,
        }
    }

    fn workspace_id(self) -> &'static str {
        match self {
            Workspace::Bid => BID_WORKSPACE_ID,
            Workspace::Prod => PROD_WORKSPACE_ID,
        }
    }

    /// The sandbox API serving this host.
    fn api(self) -> Api {
        match self {
            Workspace::Bid => Api::Beam,
            Workspace::Prod => Api::BeamProd,
        }
    }

    fn salt(self) -> u64 {
        match self {
            Workspace::Bid => 0x6265_616d_2d62_6964,
            Workspace::Prod => 0x6265_616d_2d70_726f,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Queued,
    InProgress,
    Completed,
    Failed,
    Error,
    Stopped,
    Timeout,
    UserInputRequired,
    Cancelled,
}

impl Status {
    const ALL: [Status; 9] = [
        Status::Queued,
        Status::InProgress,
        Status::Completed,
        Status::Failed,
        Status::Error,
        Status::Stopped,
        Status::Timeout,
        Status::UserInputRequired,
        Status::Cancelled,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::InProgress => "IN_PROGRESS",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
            Status::Error => "ERROR",
            Status::Stopped => "STOPPED",
            Status::Timeout => "TIMEOUT",
            Status::UserInputRequired => "USER_INPUT_REQUIRED",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// Accepts any letter case, since the docs show both `FAILED` and `failed`.
    fn parse(text: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text))
    }

    fn is_retryable(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Error | Status::Stopped | Status::Timeout
        )
    }

    fn group_name(self) -> &'static str {
        match self {
            Status::Queued => "Queued Tasks",
            Status::InProgress => "In Progress Tasks",
            Status::Completed => "Completed Tasks",
            Status::Failed => "Failed Tasks",
            Status::Error => "Error Tasks",
            Status::Stopped => "Stopped Tasks",
            Status::Timeout => "Timed Out Tasks",
            Status::UserInputRequired => "Input Required Tasks",
            Status::Cancelled => "Cancelled Tasks",
        }
    }

    fn group_icon(self) -> &'static str {
        match self {
            Status::Queued => "clock",
            Status::InProgress => "loader",
            Status::Completed => "check-circle",
            Status::Failed | Status::Error => "x-circle",
            Status::Stopped => "stop-circle",
            Status::Timeout => "alarm-clock",
            Status::UserInputRequired => "message-circle",
            Status::Cancelled => "slash",
        }
    }
}

#[derive(Debug, Clone)]
struct Task {
    id: String,
    agent_id: &'static str,
    custom_id: String,
    objective: String,
    status: Status,
    created_at: i64,
    updated_at: i64,
    manual_retry_count: u32,
    node_ids: [String; 2],
    failure: Option<&'static str>,
    tokens_used: u32,
    progress: Progress,
    /// How a retry of the task ends (`settle.rs`).
    fate: Fate,
}

/// Integration errors of failed tasks, seeded and settled alike.
const FAILURES: [&str; 4] = [
    "HubSpot API returned 502",
    "OAuth token expired for integration 'gmail'",
    "Rate limited by Salesforce (429)",
    "Missing required field 'email'",
];

/// Beam timestamps carry milliseconds (`2026-11-23T10:00:00.000Z`).
fn iso_millis(secs: i64) -> String {
    let text = rfc3339(secs);
    match text.strip_suffix('Z') {
        Some(head) => format!("{head}.000Z"),
        None => text,
    }
}

impl Task {
    fn to_json(&self) -> Value {
        let last_node_status = self.status.as_str();
        let node = |index: usize, status: &str, error: Option<&str>| {
            json!({
                "id": self.node_ids[index],
                "agentGraphNodeId": format!("node-{}-{}", self.agent_id, index + 1),
                "status": status,
                "retriedCountWhenFailure": if error.is_some() { 2 } else { 0 },
                "retriedCountWhenAccuracyIsLow": 0,
                "manualRetryCount": if index == 1 { self.manual_retry_count } else { 0 },
                "isEverConsentRequired": false,
                "agentGraphNode": {"id": format!("node-{}-{}", self.agent_id, index + 1),
                                   "name": if index == 0 { "Read input" } else { "Call integration" }},
                "toolData": {"integration_error": error},
            })
        };
        json!({
            "id": self.id,
            "agentId": self.agent_id,
            "agentGraphId": format!("graph-{}", self.agent_id),
            "customId": self.custom_id,
            "tokensUsed": self.tokens_used,
            "totalCost": f64::from(self.tokens_used) / 100_000.0,
            "taskSummary": match self.failure {
                Some(failure) => format!("Task stopped: {failure}"),
                None => format!("{} ({})", self.objective, self.status.as_str().to_lowercase()),
            },
            "taskObjective": self.objective,
            "originalTaskQuery": self.objective,
            "graphState": null,
            "isViewed": false,
            "canRerunTaskNode": self.status.is_retryable(),
            "status": self.status.as_str(),
            "averageEvaluationScore": if self.status == Status::Completed { json!(0.9) } else { Value::Null },
            "createdAt": iso_millis(self.created_at),
            "updatedAt": iso_millis(self.updated_at),
            "manualRetryCount": self.manual_retry_count,
            "isSuccess": self.status == Status::Completed,
            "mode": "AUTO",
            "agentTaskNodes": [
                node(0, "COMPLETED", None),
                node(1, last_node_status, self.failure),
            ],
        })
    }
}

/// One Beam host's tasks, in `createdAt` descending order.
#[derive(Debug)]
pub(crate) struct Store {
    workspace: Workspace,
    tasks: Vec<Task>,
    flat_list: bool,
}

/// When seeded tasks were created, relative to sandbox start.
#[derive(Debug, Clone, Copy)]
enum Age {
    LastDay,
    ThisWeek,
    Older,
}

impl Store {
    pub(crate) fn seeded(workspace: Workspace, seed: u64, now: i64) -> Store {
        use Age::{LastDay, Older, ThisWeek};
        use Status::*;
        let plan: [(&'static str, Age, Status, usize); 21] = [
            (MAIN_AGENT, LastDay, Failed, 6),
            (MAIN_AGENT, LastDay, Error, 3),
            (MAIN_AGENT, LastDay, Stopped, 3),
            (MAIN_AGENT, LastDay, Timeout, 2),
            (MAIN_AGENT, LastDay, Completed, 5),
            (MAIN_AGENT, LastDay, InProgress, 1),
            (MAIN_AGENT, LastDay, Queued, 1),
            (MAIN_AGENT, LastDay, UserInputRequired, 1),
            (MAIN_AGENT, LastDay, Cancelled, 1),
            (MAIN_AGENT, ThisWeek, Failed, 2),
            (MAIN_AGENT, ThisWeek, Error, 1),
            (MAIN_AGENT, ThisWeek, Completed, 3),
            (MAIN_AGENT, Older, Failed, 3),
            (MAIN_AGENT, Older, Timeout, 1),
            (MAIN_AGENT, Older, Completed, 2),
            (MAIN_AGENT, Older, Cancelled, 1),
            (OTHER_AGENT, LastDay, Failed, 2),
            (OTHER_AGENT, LastDay, Error, 1),
            (OTHER_AGENT, LastDay, Completed, 3),
            (OTHER_AGENT, Older, Failed, 1),
            (OTHER_AGENT, Older, Completed, 1),
        ];
        const OBJECTIVES: [&str; 5] = [
            "Qualify inbound lead",
            "Reconcile supplier invoice",
            "Draft support reply",
            "Enrich CRM contact",
            "Summarise sales call",
        ];
        let mut rng = StdRng::seed_from_u64(seed ^ workspace.salt());
        let mut tasks = Vec::new();
        for (agent_id, age, status, count) in plan {
            for _ in 0..count {
                let ago = match age {
                    Age::LastDay => rng.random_range(120..DAY - 120),
                    Age::ThisWeek => rng.random_range(DAY + 120..6 * DAY),
                    Age::Older => rng.random_range(8 * DAY..30 * DAY),
                };
                let created_at = now - ago;
                let updated_at = match status {
                    Queued => created_at,
                    _ => (created_at + rng.random_range(10..900)).min(now),
                };
                let number = tasks.len() + 101;
                tasks.push(Task {
                    id: seeded_uuid(&mut rng),
                    agent_id,
                    custom_id: format!("AGE-{number}"),
                    objective: OBJECTIVES[rng.random_range(0..OBJECTIVES.len())].to_owned(),
                    status,
                    created_at,
                    updated_at,
                    manual_retry_count: 0,
                    node_ids: [seeded_uuid(&mut rng), seeded_uuid(&mut rng)],
                    failure: status
                        .is_retryable()
                        .then(|| FAILURES[rng.random_range(0..FAILURES.len())]),
                    tokens_used: rng.random_range(800..20_000),
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
        let retryable = tasks.iter().filter(|task| task.status.is_retryable());
        let failing = settle::failing(
            seed,
            workspace.api(),
            retryable.map(|task| task.id.as_str()),
        );
        for task in &mut tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        Store {
            workspace,
            tasks,
            flat_list: false,
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.tasks
            .iter()
            .map(|task| {
                let mut value = task.to_json();
                value["workspaceId"] = json!(self.workspace.workspace_id());
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
        let api = self.workspace.api();
        let task = self.tasks.iter_mut().find(|task| task.id == id)?;
        match task.progress.read(rule) {
            Some(Step::InProgress { .. }) if task.status != Status::InProgress => {
                task.status = Status::InProgress;
                task.updated_at = now;
            }
            Some(Step::Settle) => {
                task.status = settled_status(task.fate);
                task.failure = (task.fate == Fate::Failure)
                    .then(|| FAILURES[rule.pick(api, &task.id, FAILURES.len())]);
                task.updated_at = now;
            }
            _ => {}
        }
        Some(task)
    }

    pub(crate) fn set_flat_list(&mut self, flat: bool) {
        self.flat_list = flat;
    }
}

/// The status a retried task settles to.
fn settled_status(fate: Fate) -> Status {
    match fate {
        Fate::Success => Status::Completed,
        Fate::Failure => Status::Failed,
    }
}

/// A NestJS-style error answer.
struct NestError {
    status: StatusCode,
    message: Value,
}

impl NestError {
    fn new(status: StatusCode, message: impl Into<Value>) -> NestError {
        NestError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<Value>) -> NestError {
        NestError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(id: &str) -> NestError {
        NestError::new(
            StatusCode::NOT_FOUND,
            format!("Task with id {} not found", shown(id)),
        )
    }
}

impl IntoResponse for NestError {
    fn into_response(self) -> Response {
        let reason = self.status.canonical_reason().unwrap_or("Error");
        reply::json(
            self.status,
            json!({"statusCode": self.status.as_u16(), "message": self.message, "error": reason}),
        )
    }
}

type Answer = Result<Response, NestError>;

#[derive(Clone)]
struct BeamState {
    shared: Arc<Shared>,
    workspace: Workspace,
}

impl BeamState {
    fn store(&self) -> &Mutex<Store> {
        match self.workspace {
            Workspace::Bid => &self.shared.beam,
            Workspace::Prod => &self.shared.beam_prod,
        }
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), NestError> {
        let key = reply::header(headers, "x-api-key").or_else(|| reply::bearer(headers));
        if key != Some(self.workspace.api_key()) {
            return Err(NestError::new(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
        match reply::header(headers, "current-workspace-id") {
            None | Some("") => Err(NestError::new(
                StatusCode::UNAUTHORIZED,
                "current-workspace-id header is required",
            )),
            Some(id) if id == self.workspace.workspace_id() => Ok(()),
            Some(_) => Err(NestError::new(StatusCode::FORBIDDEN, "Forbidden resource")),
        }
    }
}

/// The router of one Beam host.
pub(crate) fn router(shared: Arc<Shared>, workspace: Workspace) -> Router {
    Router::new()
        .route("/agent-tasks", get(list_tasks))
        .route("/agent-tasks/latest-executions", get(latest_executions))
        .route("/agent-tasks/retry", post(retry_task))
        .route("/agent-tasks/{task_id}", get(get_task))
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .with_state(BeamState { shared, workspace })
}

async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> NestError {
    NestError::new(
        StatusCode::NOT_FOUND,
        format!("Cannot {method} {}", shown(uri.path())),
    )
}

/// Parsed `GET /agent-tasks` query.
struct ListQuery {
    page_num: u64,
    page_size: u64,
    agent_id: Option<String>,
    statuses: Vec<Status>,
    search: Option<String>,
    start: Option<i64>,
    end: Option<i64>,
    ascending: bool,
    by_agent: bool,
    flat: Option<bool>,
}

impl ListQuery {
    fn parse(raw: Option<&str>) -> Result<ListQuery, Vec<String>> {
        let query = QueryParams::parse(raw);
        let mut problems = Vec::new();
        let mut note = |result: Result<u64, String>, default: u64| {
            result.unwrap_or_else(|problem| {
                problems.push(problem);
                default
            })
        };
        let page_num = note(query.number("pageNum", 1, 1, u64::from(u32::MAX)), 1);
        let page_size = note(query.number("pageSize", 10, 1, MAX_PAGE_SIZE), 10);
        let mut statuses = Vec::new();
        for text in query.list("statuses") {
            match Status::parse(text) {
                Some(status) => statuses.push(status),
                None => problems.push(format!(
                    "statuses must contain only valid task statuses, got '{}'",
                    shown(text)
                )),
            }
        }
        let mut instant = |key: &str| {
            let text = query.one(key).ok().flatten()?;
            let parsed = parse_instant(text);
            if parsed.is_none() {
                problems.push(format!("{key} must be a valid ISO 8601 date string"));
            }
            parsed
        };
        let start = instant("startDate");
        let end = instant("endDate");
        let ascending = match query.one("ordering").ok().flatten() {
            None | Some("createdAt:desc") => false,
            Some("createdAt:asc") => true,
            Some(other) => {
                problems.push(format!(
                    "ordering must be 'createdAt:asc' or 'createdAt:desc', got '{}'",
                    shown(other)
                ));
                false
            }
        };
        let by_agent = match query.one("grouping").ok().flatten() {
            None | Some("status") => false,
            Some("agent") => true,
            Some(_) => {
                problems.push("grouping must be one of the following values: status, agent".into());
                false
            }
        };
        let flat = match query.one("shape").ok().flatten() {
            None => None,
            Some("flat") => Some(true),
            Some("grouped") => Some(false),
            Some(_) => {
                problems.push("shape must be 'flat' or 'grouped'".into());
                None
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let text = |key: &str| {
            query
                .one(key)
                .ok()
                .flatten()
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        Ok(ListQuery {
            page_num,
            page_size,
            agent_id: text("agentId"),
            statuses,
            search: text("searchQuery").map(|search| search.to_lowercase()),
            start,
            end,
            ascending,
            by_agent,
            flat,
        })
    }

    fn matches(&self, task: &Task) -> bool {
        self.agent_id
            .as_deref()
            .is_none_or(|agent| agent == task.agent_id)
            && (self.statuses.is_empty() || self.statuses.contains(&task.status))
            && self.start.is_none_or(|start| task.created_at >= start)
            && self.end.is_none_or(|end| task.created_at <= end)
            && self.search.as_deref().is_none_or(|search| {
                task.objective.to_lowercase().contains(search)
                    || task.custom_id.to_lowercase().contains(search)
            })
    }
}

async fn list_tasks(
    State(state): State<BeamState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    state.authorize(&headers)?;
    let query = ListQuery::parse(raw.as_deref()).map_err(NestError::bad_request)?;
    let store = lock(state.store());
    let mut matching: Vec<&Task> = store
        .tasks
        .iter()
        .filter(|task| query.matches(task))
        .collect();
    if query.ascending {
        matching.reverse();
    }
    let total = matching.len();
    let start = usize::try_from((query.page_num - 1).saturating_mul(query.page_size))
        .unwrap_or(usize::MAX)
        .min(total);
    let end = start
        .saturating_add(usize::try_from(query.page_size).unwrap_or(usize::MAX))
        .min(total);
    let page = &matching[start..end];

    if query.flat.unwrap_or(store.flat_list) {
        let total_pages = total.div_ceil(usize::try_from(query.page_size).unwrap_or(usize::MAX));
        return Ok(reply::json(
            StatusCode::OK,
            json!({
                "data": page.iter().map(|task| task.to_json()).collect::<Vec<_>>(),
                "pagination": {
                    "total": total, "pageNum": query.page_num,
                    "pageSize": query.page_size, "totalPages": total_pages,
                },
            }),
        ));
    }

    // Groups appear in the order their first task appears on the page.
    let group_of = |task: &Task| {
        if query.by_agent {
            Group {
                id: task.agent_id.to_owned(),
                name: format!("Agent {}", task.agent_id),
                icon: "bot",
            }
        } else {
            Group {
                id: task.status.as_str().to_lowercase(),
                name: task.status.group_name().to_owned(),
                icon: task.status.group_icon(),
            }
        }
    };
    let mut groups: Vec<(Group, Vec<Value>)> = Vec::new();
    for task in page {
        let group = group_of(task);
        match groups
            .iter_mut()
            .find(|(existing, _)| existing.id == group.id)
        {
            Some((_, tasks)) => tasks.push(task.to_json()),
            None => groups.push((group, vec![task.to_json()])),
        }
    }
    let data: Vec<Value> = groups
        .into_iter()
        .map(|(Group { id, name, icon }, tasks)| {
            let count = matching.iter().filter(|task| group_of(task).id == id).count();
            json!({"tasks": tasks, "groupName": name, "groupId": id, "groupCount": count, "groupIcon": icon})
        })
        .collect();
    Ok(reply::json(
        StatusCode::OK,
        json!({"data": data, "totalCount": total}),
    ))
}

/// One group of the grouped list shape.
struct Group {
    id: String,
    name: String,
    icon: &'static str,
}

async fn latest_executions(State(state): State<BeamState>, headers: HeaderMap) -> Answer {
    state.authorize(&headers)?;
    let store = lock(state.store());
    let mut tasks: Vec<&Task> = store.tasks.iter().collect();
    tasks.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let tasks: Vec<Value> = tasks.into_iter().take(10).map(Task::to_json).collect();
    Ok(reply::json(StatusCode::OK, json!({"tasks": tasks})))
}

async fn get_task(
    State(state): State<BeamState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    state.authorize(&headers)?;
    let Ok(Path(id)) = path else {
        return Err(NestError::bad_request("Invalid task id"));
    };
    let (rule, now) = (state.shared.settle_rule(), state.shared.clock.now_secs());
    let mut store = lock(state.store());
    match store.read(&id, rule, now) {
        Some(task) => Ok(reply::json(StatusCode::OK, task.to_json())),
        None => Err(NestError::not_found(&id)),
    }
}

async fn retry_task(State(state): State<BeamState>, headers: HeaderMap, body: Bytes) -> Answer {
    state.authorize(&headers)?;
    let body = reply::json_body(&body, Value::Null).map_err(NestError::bad_request)?;
    let Some(id) = body.get("taskId").and_then(Value::as_str) else {
        return Err(NestError::bad_request(vec!["taskId must be a string"]));
    };
    let now = state.shared.clock.now_secs();
    let mut store = lock(state.store());
    let task = store
        .tasks
        .iter_mut()
        .find(|task| task.id == id)
        .ok_or_else(|| NestError::not_found(id))?;
    if !task.status.is_retryable() {
        return Err(NestError::bad_request(format!(
            "Task with status {} cannot be retried",
            task.status.as_str()
        )));
    }
    task.status = Status::Queued;
    task.manual_retry_count += 1;
    task.updated_at = now;
    task.failure = None;
    task.progress.start();
    Ok(StatusCode::CREATED.into_response())
}
