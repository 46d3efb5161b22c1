//! Skyvern workflow runs under `/skyvern`.
//!
//! Endpoints: `GET /v1/agents/runs` = `GET /v1/workflows/runs` (repeatable `status`, `page`,
//! `page_size`, `search_key`, `error_code`; a bare JSON array, `created_at` descending),
//! `GET /v1/agents/{workflow_permanent_id}/runs` (adds `created_at_start` inclusive and
//! `created_at_end` exclusive), `GET /v1/runs/{run_id}`, and
//! `POST /v1/agents/runs/{id}/retry` = `POST /v1/workflows/runs/{id}/retry`.
//!
//! Invariants:
//! - Auth, as the real server (Skyvern 1.0.50 self-hosted) does it: `x-api-key: <key>` only. An
//!   `Authorization: Bearer …` header without a key is 403
//!   `{"detail":"Invalid authentication method"}` (the self-hosted server has no token login); a
//!   wrong key 403 `{"detail":"Could not validate credentials"}`; no key at all 403
//!   `{"detail":"Invalid credentials"}`. Bad query values are FastAPI 422s; `page_size` has no
//!   maximum.
//! - Times are written as the real server writes them: UTC with no offset, with microseconds
//!   (`2026-12-03T09:05:57.681492`).
//! - 40 seeded `wr_` runs over 3 workflows: failed 10 (3 older than 7 days), terminated 4 (1 old),
//!   timed_out 4 (1 old), canceled 3, completed 12 (4 old), running 3, queued 2, created 1,
//!   paused 1. Final statuses are failed, terminated, canceled, timed_out and completed.
//! - A retry of a final run (any final status, as in Skyvern) leaves that run untouched and creates
//!   a new `wr_` run of the same workflow with the same parameters, status `created` (as the real
//!   server answers a new run); its id comes from the seeded RNG, so it repeats for a seed and a
//!   request order. A non-final run is a 400 "Only terminal workflow runs can be retried", an
//!   unknown id a 404. Runs marked with [`crate::sandbox::Sandbox::set_skyvern_refusal`] get the
//!   real server's other 400s: a block-scoped run ("Block-scoped workflow runs cannot be retried
//!   with this endpoint") and a run whose browser session has no address ("Browser session
//!   pbs_… does not have an address."). Like the real server, the new run does not name its
//!   origin (`retried_from_workflow_run_id` stays null); the snapshot (not the API) links it to
//!   its origin through `sandbox_retry_of`.
//! - Its rate limit (an injected 429) carries no `Retry-After`, as the real server's does not.
//! - New runs settle (`settle.rs`): the first `settle_reads` reads of a new run through
//!   `GET /v1/runs/{run_id}` show it `running`, the next one `completed`, or `failed` with a
//!   failure reason for one retry in five, and it stays so; the retried run never changes. Which
//!   retries fail is decided by the seed and the id of the seeded run the chain of retries started
//!   from, so retrying a failed new run fails again. Lists show where a run is without moving it.
//!   Snapshots add `sandbox_settles_to`: how a retry of the run ends, or for a new run in motion
//!   how it ends (`null` for a run that cannot be retried and is not in motion).

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
use super::reply::{self, QueryParams, shown};
use super::settle::{self, Fate, Progress, Rule, Step};
use super::state::{Shared, lock, parse_instant};

pub(crate) const API_KEY: &str = "sk_sandbox_skyvern_key";
const SALT: u64 = 0x736b_7976_6572_6e21;
const DAY: i64 = 24 * 3600;
const ORGANIZATION: &str = "o_sandbox";

const STATUSES: [&str; 9] = [
    "created",
    "queued",
    "running",
    "failed",
    "terminated",
    "canceled",
    "timed_out",
    "completed",
    "paused",
];

fn is_final(status: &str) -> bool {
    matches!(
        status,
        "failed" | "terminated" | "canceled" | "timed_out" | "completed"
    )
}

/// (workflow_permanent_id, workflow_id, title)
const WORKFLOWS: [(&str, &str, &str); 3] = [
    (
        "wpid_sandbox_orders",
        "w_sandbox_orders_v3",
        "Sync supplier orders",
    ),
    (
        "wpid_sandbox_invoices",
        "w_sandbox_invoices_v7",
        "Download invoices",
    ),
    (
        "wpid_sandbox_signup",
        "w_sandbox_signup_v2",
        "Sign up lead on partner portal",
    ),
];

#[derive(Debug, Clone)]
struct Run {
    id: String,
    workflow: usize,
    status: &'static str,
    created_at: i64,
    modified_at: i64,
    failure_reason: Option<&'static str>,
    error_code: Option<&'static str>,
    parameters: Value,
    step_count: u32,
    retry_of: Option<String>,
    progress: Progress,
    /// How a retry of the run ends (`settle.rs`), or for a new run, how it ends: the same along a
    /// chain of retries, since new runs copy it from the run they retry.
    fate: Fate,
}

/// A time as the real server writes it: UTC without an offset, with microseconds
/// (`2026-12-03T09:05:57.681492`). The microseconds are made up from the second, so they repeat.
fn naive(secs: i64) -> String {
    let civil = jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default();
    format!(
        "{civil}.{:06}",
        secs.rem_euclid(1_000_000) * 7919 % 1_000_000
    )
}

/// The status a new run settles to.
fn settled_status(fate: Fate) -> &'static str {
    match fate {
        Fate::Success => "completed",
        Fate::Failure => "failed",
    }
}

impl Run {
    fn started_at(&self) -> Option<i64> {
        (!matches!(self.status, "created" | "queued")).then_some(self.created_at + 5)
    }

    fn finished_at(&self) -> Option<i64> {
        is_final(self.status).then_some(self.modified_at)
    }

    /// The list item (`WorkflowRun`).
    fn to_list_json(&self) -> Value {
        let (wpid, workflow_id, title) = WORKFLOWS[self.workflow];
        json!({
            "workflow_run_id": self.id,
            "workflow_id": workflow_id,
            "workflow_permanent_id": wpid,
            "organization_id": ORGANIZATION,
            "status": self.status,
            "created_at": naive(self.created_at),
            "modified_at": naive(self.modified_at),
            "queued_at": naive(self.created_at),
            "started_at": self.started_at().map(naive),
            "finished_at": self.finished_at().map(naive),
            "failure_reason": self.failure_reason,
            "failure_category": self.error_code.map_or_else(Vec::new, |code| vec![code]),
            "workflow_title": title,
            "parent_workflow_run_id": null,
            "trigger_type": "api",
            "browser_session_id": null,
            "proxy_location": "RESIDENTIAL",
            "webhook_callback_url": null,
        })
    }

    /// The single-run answer (`WorkflowRunResponse`).
    fn to_response_json(&self) -> Value {
        let (wpid, _, title) = WORKFLOWS[self.workflow];
        let errors: Vec<Value> = self
            .error_code
            .map(|code| json!({"error_code": code, "reasoning": self.failure_reason}))
            .into_iter()
            .collect();
        json!({
            "run_id": self.id,
            "status": self.status,
            "run_type": "workflow_run",
            "created_at": naive(self.created_at),
            "modified_at": naive(self.modified_at),
            "queued_at": naive(self.created_at),
            "started_at": self.started_at().map(naive),
            "finished_at": self.finished_at().map(naive),
            "failure_reason": self.failure_reason,
            "errors": errors,
            "output": if self.status == "completed" { json!({"rows_synced": 42}) } else { Value::Null },
            "downloaded_files": [],
            "recording_url": null,
            "screenshot_urls": [],
            "app_url": null,
            "browser_session_id": null,
            "browser_profile_id": null,
            "step_count": self.step_count,
            "run_with": "agent",
            "ai_fallback": false,
            "script_run": null,
            "run_request": {
                "workflow_id": wpid,
                "title": title,
                "parameters": self.parameters,
                "proxy_location": "RESIDENTIAL",
                "webhook_url": null,
            },
        })
    }
}

/// Why the real server refuses to retry a final run with a 400 (beyond "not terminal").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A run of one block (started from the editor): "Block-scoped workflow runs cannot be
    /// retried with this endpoint".
    BlockScoped,
    /// A run in a browser session that has no address any more: "Browser session … does not have
    /// an address.".
    MissingBrowserAddress,
}

/// The Skyvern runs, newest first, and the RNG that names new runs.
#[derive(Debug)]
pub(crate) struct Store {
    runs: Vec<Run>,
    rng: StdRng,
    /// Runs whose retry the server refuses, and why.
    refusals: Vec<(String, Refusal)>,
}

fn new_run_id(rng: &mut StdRng) -> String {
    format!(
        "wr_{}",
        rng.random_range(400_000_000_000_000_000u64..500_000_000_000_000_000)
    )
}

impl Store {
    pub(crate) fn seeded(seed: u64, now: i64) -> Store {
        // (status, recent?, count); "recent" is within the last day, else 8–20 days ago.
        let plan: [(&'static str, bool, usize); 13] = [
            ("failed", true, 7),
            ("failed", false, 3),
            ("terminated", true, 3),
            ("terminated", false, 1),
            ("timed_out", true, 3),
            ("timed_out", false, 1),
            ("canceled", true, 3),
            ("completed", true, 8),
            ("completed", false, 4),
            ("running", true, 3),
            ("queued", true, 2),
            ("created", true, 1),
            ("paused", true, 1),
        ];
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let mut runs = Vec::new();
        for (status, recent, count) in plan {
            for _ in 0..count {
                let ago = if recent {
                    rng.random_range(300..DAY - 300)
                } else {
                    rng.random_range(8 * DAY..20 * DAY)
                };
                let created_at = now - ago;
                let (failure_reason, error_code) = match status {
                    "failed" => (
                        Some("Failed to navigate to url: net::ERR_CONNECTION_RESET"),
                        Some("NAVIGATION_FAILED"),
                    ),
                    "terminated" => (
                        Some("The login form rejects the supplied credentials"),
                        Some("GOAL_UNACHIEVABLE"),
                    ),
                    "timed_out" => (
                        Some("Reached the maximum steps (25)"),
                        Some("MAX_STEPS_REACHED"),
                    ),
                    _ => (None, None),
                };
                let workflow = rng.random_range(0..WORKFLOWS.len());
                runs.push(Run {
                    id: new_run_id(&mut rng),
                    workflow,
                    status,
                    created_at,
                    modified_at: if is_final(status) {
                        (created_at + rng.random_range(30..1800)).min(now)
                    } else {
                        created_at
                    },
                    failure_reason,
                    error_code,
                    parameters: json!({
                        "account": format!("acct-{:04}", rng.random_range(0..10_000)),
                        "since": naive(created_at - DAY),
                    }),
                    step_count: rng.random_range(3..26),
                    retry_of: None,
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                });
            }
        }
        runs.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let retryable = runs.iter().filter(|run| is_final(run.status));
        let failing = settle::failing(seed, Api::Skyvern, retryable.map(|run| run.id.as_str()));
        for run in &mut runs {
            run.fate = settle::fate_of(&failing, &run.id);
        }
        Store {
            runs,
            rng,
            refusals: Vec::new(),
        }
    }

    /// Make the server refuse to retry run `id` (any run, seeded or new) for `why`.
    pub(crate) fn refuse(&mut self, id: &str, why: Refusal) {
        self.refusals.retain(|(run, _)| run != id);
        self.refusals.push((id.to_owned(), why));
    }

    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.runs
            .iter()
            .map(|run| {
                let mut value = run.to_list_json();
                value["run_request"] = run.to_response_json()["run_request"].clone();
                value["sandbox_retry_of"] = json!(run.retry_of);
                let settles_to = (is_final(run.status) || run.progress.is_moving())
                    .then(|| settled_status(run.fate));
                value["sandbox_settles_to"] = json!(settles_to);
                value
            })
            .collect()
    }

    pub(crate) fn settled(&self) -> Vec<(String, String)> {
        self.runs
            .iter()
            .filter(|run| run.progress.is_settled())
            .map(|run| (run.id.clone(), run.status.to_owned()))
            .collect()
    }

    /// Reads one run through its get-one endpoint, moving it on if it is a new run in motion.
    fn read(&mut self, id: &str, rule: Rule, now: i64) -> Option<&Run> {
        let run = self.runs.iter_mut().find(|run| run.id == id)?;
        match run.progress.read(rule) {
            Some(Step::InProgress { .. }) if run.status != "running" => {
                run.status = "running";
                run.modified_at = now;
            }
            Some(Step::Settle) => {
                run.status = settled_status(run.fate);
                (run.failure_reason, run.error_code) = match run.fate {
                    Fate::Success => (None, None),
                    Fate::Failure => (
                        Some("Failed to navigate to url: net::ERR_CONNECTION_RESET"),
                        Some("NAVIGATION_FAILED"),
                    ),
                };
                run.step_count =
                    3 + u32::try_from(rule.pick(Api::Skyvern, &run.id, 23)).unwrap_or(0);
                run.modified_at = now;
            }
            _ => {}
        }
        Some(run)
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

    fn invalid_query(name: &str, index: Option<usize>, message: String, input: &str) -> Detail {
        let loc = match index {
            Some(index) => json!(["query", name, index]),
            None => json!(["query", name]),
        };
        Detail::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"type": "value_error", "loc": loc, "msg": message, "input": shown(input)}]),
        )
    }
}

impl IntoResponse for Detail {
    fn into_response(self) -> Response {
        reply::json(self.status, json!({"detail": self.detail}))
    }
}

type Answer = Result<Response, Detail>;

fn authorize(headers: &HeaderMap) -> Result<(), Detail> {
    match reply::header(headers, "x-api-key") {
        Some(API_KEY) => Ok(()),
        Some(_) => Err(Detail::new(
            StatusCode::FORBIDDEN,
            "Could not validate credentials",
        )),
        None if reply::bearer(headers).is_some() => Err(Detail::new(
            StatusCode::FORBIDDEN,
            "Invalid authentication method",
        )),
        None => Err(Detail::new(StatusCode::FORBIDDEN, "Invalid credentials")),
    }
}

/// The `/skyvern` router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/agents/runs", get(list_all_runs))
        .route("/v1/workflows/runs", get(list_all_runs))
        .route(
            "/v1/agents/{workflow_permanent_id}/runs",
            get(list_agent_runs),
        )
        .route("/v1/runs/{run_id}", get(get_run))
        .route("/v1/agents/runs/{run_id}/retry", post(retry_run))
        .route("/v1/workflows/runs/{run_id}/retry", post(retry_run))
        .fallback(|| async { Detail::new(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async {
            Detail::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        })
        .with_state(shared)
}

/// Filters shared by both list endpoints.
struct ListQuery {
    page: u64,
    page_size: u64,
    statuses: Vec<String>,
    search_key: Option<String>,
    error_code: Option<String>,
    created_at_start: Option<i64>,
    created_at_end: Option<i64>,
}

impl ListQuery {
    fn parse(raw: Option<&str>, with_dates: bool) -> Result<ListQuery, Detail> {
        let query = QueryParams::parse(raw);
        let number = |key: &str| {
            let text = query.one(key).ok().flatten().unwrap_or_default().to_owned();
            query
                .number(key, if key == "page" { 1 } else { 10 }, 1, u64::MAX)
                .map_err(|message| Detail::invalid_query(key, None, message, &text))
        };
        let page = number("page")?;
        let page_size = number("page_size")?;
        let mut statuses = Vec::new();
        for (index, status) in query.all("status").into_iter().enumerate() {
            if !STATUSES.contains(&status) {
                let expected: Vec<String> = STATUSES.iter().map(|s| format!("'{s}'")).collect();
                let message = format!("Input should be {}", expected.join(", "));
                return Err(Detail::invalid_query(
                    "status",
                    Some(index),
                    message,
                    status,
                ));
            }
            statuses.push(status.to_owned());
        }
        let search_key = query
            .one("search_key")
            .ok()
            .flatten()
            .map(str::to_lowercase);
        if search_key
            .as_ref()
            .is_some_and(|key| key.chars().count() > 500)
        {
            return Err(Detail::invalid_query(
                "search_key",
                None,
                "String should have at most 500 characters".into(),
                "",
            ));
        }
        let instant = |key: &str| -> Result<Option<i64>, Detail> {
            match query.one(key).ok().flatten() {
                Some(text) if with_dates => parse_instant(text).map(Some).ok_or_else(|| {
                    Detail::invalid_query(
                        key,
                        None,
                        "Input should be a valid datetime".into(),
                        text,
                    )
                }),
                _ => Ok(None),
            }
        };
        let created_at_start = instant("created_at_start")?;
        let created_at_end = instant("created_at_end")?;
        Ok(ListQuery {
            page,
            page_size,
            statuses,
            search_key,
            error_code: query.one("error_code").ok().flatten().map(str::to_owned),
            created_at_start,
            created_at_end,
        })
    }

    fn matches(&self, run: &Run) -> bool {
        let searched = || {
            let Some(key) = &self.search_key else {
                return true;
            };
            run.id.to_lowercase().contains(key)
                || run.parameters.to_string().to_lowercase().contains(key)
        };
        (self.statuses.is_empty() || self.statuses.iter().any(|status| status == run.status))
            && self
                .error_code
                .as_deref()
                .is_none_or(|code| run.error_code == Some(code))
            && self
                .created_at_start
                .is_none_or(|start| run.created_at >= start)
            && self.created_at_end.is_none_or(|end| run.created_at < end)
            && searched()
    }
}

fn list(shared: &Shared, query: &ListQuery, workflow: Option<usize>) -> Response {
    let store = lock(&shared.skyvern);
    let skip = (query.page - 1).saturating_mul(query.page_size);
    let runs: Vec<Value> = store
        .runs
        .iter()
        .filter(|run| workflow.is_none_or(|workflow| run.workflow == workflow))
        .filter(|run| query.matches(run))
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(query.page_size).unwrap_or(usize::MAX))
        .map(Run::to_list_json)
        .collect();
    reply::json(StatusCode::OK, json!(runs))
}

async fn list_all_runs(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    authorize(&headers)?;
    let query = ListQuery::parse(raw.as_deref(), false)?;
    Ok(list(&shared, &query, None))
}

async fn list_agent_runs(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&headers)?;
    let Ok(Path(wpid)) = path else {
        return Err(Detail::new(StatusCode::NOT_FOUND, "Not Found"));
    };
    let query = ListQuery::parse(raw.as_deref(), true)?;
    let workflow = WORKFLOWS
        .iter()
        .position(|(id, _, _)| *id == wpid)
        .ok_or_else(|| {
            Detail::new(
                StatusCode::NOT_FOUND,
                format!("Workflow not found {}", shown(&wpid)),
            )
        })?;
    Ok(list(&shared, &query, Some(workflow)))
}

async fn get_run(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&headers)?;
    let id = path.map(|Path(id)| id).unwrap_or_default();
    let (rule, now) = (shared.settle_rule(), shared.clock.now_secs());
    let mut store = lock(&shared.skyvern);
    let run = store.read(&id, rule, now).ok_or_else(|| {
        Detail::new(
            StatusCode::NOT_FOUND,
            format!("Task run not found {}", shown(&id)),
        )
    })?;
    Ok(reply::json(StatusCode::OK, run.to_response_json()))
}

async fn retry_run(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    authorize(&headers)?;
    let id = path.map(|Path(id)| id).unwrap_or_default();
    let now = shared.clock.now_secs();
    let mut store = lock(&shared.skyvern);
    let original = store
        .runs
        .iter()
        .find(|run| run.id == id)
        .cloned()
        .ok_or_else(|| {
            Detail::new(
                StatusCode::NOT_FOUND,
                format!("Workflow run not found {}", shown(&id)),
            )
        })?;
    if !is_final(original.status) {
        return Err(Detail::new(
            StatusCode::BAD_REQUEST,
            "Only terminal workflow runs can be retried",
        ));
    }
    match store.refusals.iter().find(|(run, _)| *run == id) {
        Some((_, Refusal::BlockScoped)) => {
            return Err(Detail::new(
                StatusCode::BAD_REQUEST,
                "Block-scoped workflow runs cannot be retried with this endpoint",
            ));
        }
        Some((_, Refusal::MissingBrowserAddress)) => {
            return Err(Detail::new(
                StatusCode::BAD_REQUEST,
                "Browser session pbs_sandbox_gone does not have an address.",
            ));
        }
        None => {}
    }
    let run = Run {
        id: new_run_id(&mut store.rng),
        status: "created",
        created_at: now,
        modified_at: now,
        failure_reason: None,
        error_code: None,
        step_count: 0,
        retry_of: Some(original.id.clone()),
        progress: Progress::STARTED,
        ..original
    };
    let answer = run.to_response_json();
    store.runs.insert(0, run);
    Ok(reply::json(StatusCode::OK, answer))
}
