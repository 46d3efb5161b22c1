//! GeeLark's open API (cloud-phone tasks) under `/geelark`.
//!
//! Endpoints, all `POST` with a JSON body: `/open/v1/task/historyRecords` (`size` ≤ 100, `lastId`
//! cursor, optional `ids`, tasks scheduled in the past 7 days), `/open/v1/task/query` (`ids` ≤ 100),
//! `/open/v1/task/detail` (`id`), `/open/v1/task/cancel` and `/open/v1/task/restart` (`ids`).
//! Every handled request gets HTTP 200 with the envelope `{traceId, code, msg, data}` echoing the
//! request's `traceId` header.
//!
//! Invariants:
//! - Auth: a `traceId` header (else code 40002), then either `Authorization: Bearer <token>` or the
//!   key-mode headers `appId`, `ts`, `nonce` (= first 6 characters of `traceId`) and `sign` (= upper
//!   hex SHA-256 of appId+traceId+ts+nonce+apiKey); anything else is code 40003.
//! - 30 seeded tasks with 18-digit ids: within the 7-day window 10 failed (status 4: 7 restartable,
//!   one whose environment was deleted → 40005, one whose resources expired → 48003, one already
//!   restarted 5 times → 48000), 2 cancelled (7, restartable), 8 completed, 2 waiting, 2 in progress;
//!   outside the window 3 failed and 3 completed.
//! - An optional per-endpoint limit per clock minute (GeeLark: 200) answers code 40007 beyond it.
//! - Restart checks each id (48002 unknown, 40005, 48003, 48001 status not 4 or 7, 48000 limit) and
//!   answers code 0, 40006 (partial) or 40009 (all failed) with `failDetails` codes as strings; a
//!   restarted task keeps its id, goes to status 1 and counts one more restart.
//! - Restarted work settles (`settle.rs`): the first `settle_reads` reads of the task through
//!   `task/query` or `task/detail` (one read per request that names it) after a restart show status
//!   2, the next one 3, or 4 with a `failCode`/`failDesc` for one task in five (by seed and id), and
//!   it stays so; a task failed again can be restarted again (within the 5 restarts), and fails
//!   again. A cancel stops a restarted task where it is. `historyRecords` shows where a task is
//!   without moving it. Snapshots add `sandbox_settles_to`: how a restart of the task ends (`null`
//!   for a task that cannot be restarted and is not in motion).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Api;
use super::reply;
use super::settle::{self, Fate, Progress, Rule, Step};
use super::state::{Shared, lock};

pub(crate) const APP_ID: &str = "sandboxGeeLarkAppId00001";
pub(crate) const API_KEY: &str = "sandbox-geelark-key";
pub(crate) const TOKEN: &str = "sandbox-geelark-token";
const SALT: u64 = 0x6765_656c_6172_6b21;
const DAY: i64 = 24 * 3600;
const HISTORY_WINDOW_SECS: i64 = 7 * DAY;
const MAX_IDS: usize = 100;
const MAX_RESTARTS: u32 = 5;

const WAITING: u8 = 1;
const IN_PROGRESS: u8 = 2;
const COMPLETED: u8 = 3;
const FAILED: u8 = 4;
const CANCELLED: u8 = 7;

#[derive(Debug, Clone)]
struct Task {
    id: String,
    plan_name: String,
    task_type: u8,
    serial_name: String,
    env_id: String,
    schedule_at: i64,
    status: u8,
    fail_code: u32,
    fail_desc: &'static str,
    cost: u32,
    restarts: u32,
    env_deleted: bool,
    resource_expired: bool,
    progress: Progress,
    /// How a restart of the task ends (`settle.rs`).
    fate: Fate,
}

impl Task {
    /// Whether a restart of this task would be accepted.
    fn is_restartable(&self) -> bool {
        (self.status == FAILED || self.status == CANCELLED)
            && !self.env_deleted
            && !self.resource_expired
            && self.restarts < MAX_RESTARTS
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "planName": self.plan_name,
            "taskType": self.task_type,
            "serialName": self.serial_name,
            "envId": self.env_id,
            "scheduleAt": self.schedule_at,
            "status": self.status,
            "failCode": self.fail_code,
            "failDesc": self.fail_desc,
            "cost": self.cost,
        })
    }
}

/// Failure codes and reasons of failed tasks, seeded and settled alike.
const FAILURES: [(u32, &str); 4] = [
    (20002, "account login expired"),
    (29996, "proxy detection failed"),
    (29999, "unknown error"),
    (21001, "video upload failed"),
];

/// The status a restarted task settles to.
fn settled_status(fate: Fate) -> u8 {
    match fate {
        Fate::Success => COMPLETED,
        Fate::Failure => FAILED,
    }
}

/// Special cases a seeded failed task can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    EnvDeleted,
    ResourceExpired,
    RestartLimitReached,
}

/// The GeeLark tasks, newest `scheduleAt` first.
#[derive(Debug)]
pub(crate) struct Store {
    tasks: Vec<Task>,
    /// Optional per-endpoint limit per clock minute, and the count of the current minute.
    per_minute_limit: Option<u32>,
    minute_counts: Vec<(&'static str, i64, u32)>,
}

impl Store {
    pub(crate) fn seeded(seed: u64, now: i64) -> Store {
        // (status, within the 7-day window?, quirk, count)
        let plan: [(u8, bool, Quirk, usize); 10] = [
            (FAILED, true, Quirk::None, 7),
            (FAILED, true, Quirk::EnvDeleted, 1),
            (FAILED, true, Quirk::ResourceExpired, 1),
            (FAILED, true, Quirk::RestartLimitReached, 1),
            (CANCELLED, true, Quirk::None, 2),
            (COMPLETED, true, Quirk::None, 8),
            (WAITING, true, Quirk::None, 2),
            (IN_PROGRESS, true, Quirk::None, 2),
            (FAILED, false, Quirk::None, 3),
            (COMPLETED, false, Quirk::None, 3),
        ];
        const PLANS: [(u8, &str); 4] = [
            (1, "TikTok video post"),
            (2, "TikTok warmup"),
            (4, "Account login"),
            (42, "Custom flow"),
        ];
        let mut rng = StdRng::seed_from_u64(seed ^ SALT);
        let mut tasks = Vec::new();
        for (status, recent, quirk, count) in plan {
            for _ in 0..count {
                let ago = if recent {
                    rng.random_range(3600..HISTORY_WINDOW_SECS - 6 * 3600)
                } else {
                    rng.random_range(8 * DAY..14 * DAY)
                };
                let (task_type, plan_name) = PLANS[rng.random_range(0..PLANS.len())];
                let (fail_code, fail_desc) = match (status, quirk) {
                    (FAILED, Quirk::EnvDeleted) => (29998, "cloud phone deleted"),
                    (FAILED, _) => FAILURES[rng.random_range(0..FAILURES.len())],
                    _ => (0, ""),
                };
                let phone = rng.random_range(1..40);
                tasks.push(Task {
                    id: rng
                        .random_range(500_000_000_000_000_000u64..600_000_000_000_000_000)
                        .to_string(),
                    plan_name: format!("{plan_name} #{}", rng.random_range(1..100)),
                    task_type,
                    serial_name: format!("phone-{phone:02}"),
                    env_id: format!("{}", 560_000_000_000_000_000u64 + phone),
                    schedule_at: now - ago,
                    status,
                    fail_code,
                    fail_desc,
                    cost: rng.random_range(20..900),
                    restarts: if quirk == Quirk::RestartLimitReached {
                        MAX_RESTARTS
                    } else {
                        0
                    },
                    env_deleted: quirk == Quirk::EnvDeleted,
                    resource_expired: quirk == Quirk::ResourceExpired,
                    progress: Progress::Untouched,
                    fate: Fate::Success,
                });
            }
        }
        tasks.sort_by(|a, b| {
            b.schedule_at
                .cmp(&a.schedule_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        let restartable = tasks.iter().filter(|task| task.is_restartable());
        let failing = settle::failing(seed, Api::Geelark, restartable.map(|task| task.id.as_str()));
        for task in &mut tasks {
            task.fate = settle::fate_of(&failing, &task.id);
        }
        Store {
            tasks,
            per_minute_limit: None,
            minute_counts: Vec::new(),
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<Value> {
        self.tasks
            .iter()
            .map(|task| {
                let mut value = task.to_json();
                value["restartCount"] = json!(task.restarts);
                value["envDeleted"] = json!(task.env_deleted);
                value["resourceExpired"] = json!(task.resource_expired);
                let settles_to = (task.is_restartable() || task.progress.is_moving())
                    .then(|| settled_status(task.fate));
                value["sandbox_settles_to"] = json!(settles_to);
                value
            })
            .collect()
    }

    pub(crate) fn settled(&self) -> Vec<(String, String)> {
        self.tasks
            .iter()
            .filter(|task| task.progress.is_settled())
            .map(|task| (task.id.clone(), task.status.to_string()))
            .collect()
    }

    /// Reads the tasks `ids` names, each once, moving on those a restart put in motion.
    fn read(&mut self, ids: &[String], rule: Rule) {
        for task in self.tasks.iter_mut().filter(|task| ids.contains(&task.id)) {
            match task.progress.read(rule) {
                None => {}
                Some(Step::InProgress { .. }) => task.status = IN_PROGRESS,
                Some(Step::Settle) => {
                    task.status = settled_status(task.fate);
                    (task.fail_code, task.fail_desc) = match task.fate {
                        Fate::Success => (0, ""),
                        Fate::Failure => {
                            FAILURES[rule.pick(Api::Geelark, &task.id, FAILURES.len())]
                        }
                    };
                }
            }
        }
    }

    pub(crate) fn set_rate_limit(&mut self, per_minute: Option<u32>) {
        self.per_minute_limit = per_minute;
        self.minute_counts.clear();
    }

    /// Counts a call to `endpoint` in `minute`; false when it is over the per-minute limit.
    fn count_call(&mut self, endpoint: &'static str, minute: i64) -> bool {
        let Some(limit) = self.per_minute_limit else {
            return true;
        };
        self.minute_counts
            .retain(|(name, counted_minute, _)| *name != endpoint || *counted_minute == minute);
        match self
            .minute_counts
            .iter_mut()
            .find(|(name, _, _)| *name == endpoint)
        {
            Some((_, _, count)) => {
                *count += 1;
                *count <= limit
            }
            None => {
                self.minute_counts.push((endpoint, minute, 1));
                limit >= 1
            }
        }
    }

    /// Restarts one task, or says why not (per-item code and message).
    fn restart(&mut self, id: &str) -> Result<(), (u32, &'static str)> {
        let task = self
            .tasks
            .iter_mut()
            .find(|task| task.id == id)
            .ok_or((48002, "task does not exist"))?;
        if task.env_deleted {
            return Err((40005, "environment has been deleted"));
        }
        if task.resource_expired {
            return Err((48003, "task resource has expired"));
        }
        if task.status != FAILED && task.status != CANCELLED {
            return Err((48001, "task status does not allow retry"));
        }
        if task.restarts >= MAX_RESTARTS {
            return Err((48000, "task retry limit reached"));
        }
        task.status = WAITING;
        task.restarts += 1;
        task.fail_code = 0;
        task.fail_desc = "";
        task.progress.start();
        Ok(())
    }

    /// Cancels one waiting or in-progress task, or says why not.
    fn cancel(&mut self, id: &str) -> Result<(), (u32, &'static str)> {
        let task = self
            .tasks
            .iter_mut()
            .find(|task| task.id == id)
            .ok_or((48002, "task does not exist"))?;
        if task.status != WAITING && task.status != IN_PROGRESS {
            return Err((48001, "task status does not allow cancel"));
        }
        task.status = CANCELLED;
        if task.progress.is_moving() {
            task.progress = Progress::Untouched;
        }
        Ok(())
    }
}

/// The answer envelope; GeeLark always answers HTTP 200 once it has parsed the request.
struct Envelope {
    trace_id: String,
    code: u32,
    msg: &'static str,
    data: Value,
}

impl Envelope {
    fn fail(trace_id: &str, code: u32, msg: &'static str) -> Envelope {
        Envelope {
            trace_id: trace_id.to_owned(),
            code,
            msg,
            data: Value::Null,
        }
    }

    fn ok(trace_id: &str, data: Value) -> Envelope {
        Envelope {
            trace_id: trace_id.to_owned(),
            code: 0,
            msg: "success",
            data,
        }
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        reply::json(
            StatusCode::OK,
            json!({"traceId": self.trace_id, "code": self.code, "msg": self.msg, "data": self.data}),
        )
    }
}

/// The injected rate-limit fault in GeeLark's dialect: HTTP 200 with code 40007.
pub(crate) fn rate_limited(headers: &HeaderMap) -> Response {
    let trace_id = reply::header(headers, "traceid").unwrap_or_default();
    Envelope::fail(trace_id, 40007, "too many requests").into_response()
}

/// The key-mode signature GeeLark expects.
pub(crate) fn signature(
    app_id: &str,
    trace_id: &str,
    ts: &str,
    nonce: &str,
    api_key: &str,
) -> String {
    let digest = Sha256::digest(format!("{app_id}{trace_id}{ts}{nonce}{api_key}"));
    hex::encode_upper(digest)
}

/// Checks auth and the optional rate limit, and parses the body; `Ok` holds the trace id and the
/// body (an object).
fn admit(
    shared: &Shared,
    endpoint: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Value), Envelope> {
    let trace_id = reply::header(headers, "traceid").unwrap_or_default().trim();
    if trace_id.is_empty() {
        return Err(Envelope::fail("", 40002, "traceId header is empty"));
    }
    let signature_failed = || Envelope::fail(trace_id, 40003, "signature verification failed");
    if headers.contains_key("authorization") {
        if reply::bearer(headers) != Some(TOKEN) {
            return Err(signature_failed());
        }
    } else {
        let field = |name: &str| reply::header(headers, name).unwrap_or_default();
        let (app_id, ts, nonce, sign) =
            (field("appid"), field("ts"), field("nonce"), field("sign"));
        let expected_nonce: String = trace_id.chars().take(6).collect();
        let valid = app_id == APP_ID
            && !ts.is_empty()
            && ts.bytes().all(|byte| byte.is_ascii_digit())
            && nonce == expected_nonce
            && sign == signature(app_id, trace_id, ts, nonce, API_KEY);
        if !valid {
            return Err(signature_failed());
        }
    }
    let minute = shared.clock.now_secs().div_euclid(60);
    if !lock(&shared.geelark).count_call(endpoint, minute) {
        return Err(Envelope::fail(trace_id, 40007, "too many requests"));
    }
    match reply::json_body(body, json!({})) {
        Ok(value) if value.is_object() => Ok((trace_id.to_owned(), value)),
        Ok(_) => Err(Envelope::fail(
            trace_id,
            40004,
            "parameter validation failed",
        )),
        Err(_) => Err(Envelope::fail(trace_id, 40001, "failed to read body")),
    }
}

/// The `ids` array of a body: 1 to 100 strings (numbers are accepted and stringified).
fn ids_of(body: &Value, trace_id: &str) -> Result<Vec<String>, Envelope> {
    let invalid = || Envelope::fail(trace_id, 40004, "parameter validation failed");
    let ids = body
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(invalid)?;
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(invalid());
    }
    ids.iter()
        .map(|id| match id {
            Value::String(id) => Ok(id.clone()),
            Value::Number(id) => Ok(id.to_string()),
            _ => Err(invalid()),
        })
        .collect()
}

/// The `/geelark` router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/open/v1/task/historyRecords", post(history_records))
        .route("/open/v1/task/query", post(query_tasks))
        .route("/open/v1/task/detail", post(task_detail))
        .route("/open/v1/task/restart", post(restart_tasks))
        .route("/open/v1/task/cancel", post(cancel_tasks))
        .fallback(|| async {
            reply::json(
                StatusCode::NOT_FOUND,
                json!({"code": 404, "msg": "not found"}),
            )
        })
        .method_not_allowed_fallback(|| async {
            reply::json(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"code": 405, "msg": "method not allowed"}),
            )
        })
        .with_state(shared)
}

fn into_answer(result: Result<Envelope, Envelope>) -> Response {
    match result {
        Ok(envelope) | Err(envelope) => envelope.into_response(),
    }
}

async fn history_records(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    into_answer(history_records_envelope(&shared, &headers, &body))
}

fn history_records_envelope(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(shared, "historyRecords", headers, body)?;
    let invalid = || Envelope::fail(&trace_id, 40004, "parameter validation failed");
    let size = match body.get("size") {
        None | Some(Value::Null) => 10,
        Some(size) => size
            .as_u64()
            .filter(|size| (1..=MAX_IDS as u64).contains(size))
            .ok_or_else(invalid)?,
    };
    let ids = match body.get("ids") {
        None | Some(Value::Null) => None,
        Some(_) => Some(ids_of(&body, &trace_id)?),
    };
    let last_id = match body.get("lastId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.is_empty() => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Number(id)) => Some(id.to_string()),
        Some(_) => return Err(invalid()),
    };
    let since = shared.clock.now_secs() - HISTORY_WINDOW_SECS;
    let store = lock(&shared.geelark);
    let in_window: Vec<&Task> = store
        .tasks
        .iter()
        .filter(|task| task.schedule_at >= since)
        .filter(|task| ids.as_ref().is_none_or(|ids| ids.contains(&task.id)))
        .collect();
    let start = match last_id {
        None => 0,
        Some(last_id) => {
            let position = in_window.iter().position(|task| task.id == last_id);
            position
                .map(|position| position + 1)
                .ok_or_else(|| Envelope::fail(&trace_id, 40008, "invalid pagination"))?
        }
    };
    let items: Vec<Value> = in_window
        .iter()
        .skip(start)
        .take(usize::try_from(size).unwrap_or(MAX_IDS))
        .map(|task| task.to_json())
        .collect();
    Ok(Envelope::ok(
        &trace_id,
        json!({"total": in_window.len(), "items": items}),
    ))
}

async fn query_tasks(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    into_answer(query_tasks_envelope(&shared, &headers, &body))
}

fn query_tasks_envelope(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(shared, "query", headers, body)?;
    let ids = ids_of(&body, &trace_id)?;
    let mut store = lock(&shared.geelark);
    store.read(&ids, shared.settle_rule());
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| store.tasks.iter().find(|task| &task.id == id))
        .map(|task| {
            let mut value = task.to_json();
            value["shareLink"] = json!("");
            value
        })
        .collect();
    Ok(Envelope::ok(
        &trace_id,
        json!({"total": items.len(), "items": items}),
    ))
}

async fn task_detail(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    into_answer(task_detail_envelope(&shared, &headers, &body))
}

fn task_detail_envelope(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(shared, "detail", headers, body)?;
    let id = match body.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => {
            return Err(Envelope::fail(
                &trace_id,
                40004,
                "parameter validation failed",
            ));
        }
    };
    let mut store = lock(&shared.geelark);
    store.read(std::slice::from_ref(&id), shared.settle_rule());
    let task = store
        .tasks
        .iter()
        .find(|task| task.id == id)
        .ok_or_else(|| Envelope::fail(&trace_id, 40005, "resource does not exist"))?;
    let mut value = task.to_json();
    value["resultImages"] = json!([]);
    value["logs"] = json!([format!(
        "task {} finished with status {}",
        task.id, task.status
    )]);
    value["searchAfter"] = json!([]);
    value["logContinue"] = json!(false);
    Ok(Envelope::ok(&trace_id, value))
}

/// Applies `action` to each id and answers with GeeLark's batch envelope.
fn batch(
    trace_id: &str,
    ids: &[String],
    mut action: impl FnMut(&str) -> Result<(), (u32, &'static str)>,
) -> Envelope {
    let fail_details: Vec<Value> = ids
        .iter()
        .filter_map(|id| {
            action(id)
                .err()
                .map(|(code, msg)| json!({"id": id, "code": code.to_string(), "msg": msg}))
        })
        .collect();
    let failed = fail_details.len();
    let (code, msg) = match failed {
        0 => (0, "success"),
        n if n == ids.len() => (40009, "process all failure"),
        _ => (40006, "partial success"),
    };
    Envelope {
        trace_id: trace_id.to_owned(),
        code,
        msg,
        data: json!({
            "totalAmount": ids.len(),
            "successAmount": ids.len() - failed,
            "failAmount": failed,
            "failDetails": fail_details,
        }),
    }
}

async fn restart_tasks(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    into_answer(restart_tasks_envelope(&shared, &headers, &body))
}

fn restart_tasks_envelope(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(shared, "restart", headers, body)?;
    let ids = ids_of(&body, &trace_id)?;
    let mut store = lock(&shared.geelark);
    Ok(batch(&trace_id, &ids, |id| store.restart(id)))
}

async fn cancel_tasks(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    into_answer(cancel_tasks_envelope(&shared, &headers, &body))
}

fn cancel_tasks_envelope(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(shared, "cancel", headers, body)?;
    let ids = ids_of(&body, &trace_id)?;
    let mut store = lock(&shared.geelark);
    Ok(batch(&trace_id, &ids, |id| store.cancel(id)))
}
