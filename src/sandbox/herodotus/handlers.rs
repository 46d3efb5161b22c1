//! Herodotus's endpoints; errors are JSON objects such as `{"error": …, "uuid": …}`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::{Task, Transition, is_failed, retry_route};
use super::{API_KEY, Herodotus};
use crate::sandbox::reply::{self, QueryParams};
use crate::sandbox::state::lock;

/// A Herodotus error answer: a JSON object such as `{"error": …, "uuid": …}`.
pub(super) struct HdError {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for HdError {
    fn into_response(self) -> Response {
        reply::json(self.status, self.body)
    }
}

pub(super) fn hd_error(status: StatusCode, body: Value) -> HdError {
    HdError { status, body }
}

pub(super) type Answer = Result<Response, HdError>;

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

pub(super) async fn list_tasks(
    State(api): State<Arc<Herodotus>>,
    RawQuery(raw): RawQuery,
) -> Answer {
    let store = lock(&api.store);
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

pub(super) async fn task_status(
    State(api): State<Arc<Herodotus>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = task_id(path)?;
    let (rule, now) = (api.shared.settle_rule(), api.shared.clock.now_secs());
    let mut store = lock(&api.store);
    let task = store
        .read(&id, rule, now)
        .ok_or_else(|| not_found("taskId", &id))?;
    Ok(reply::json(StatusCode::OK, task.status_json()))
}

pub(super) async fn task_transitions(
    State(api): State<Arc<Herodotus>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let id = task_id(path)?;
    let store = lock(&api.store);
    let task = store.find(&id).ok_or_else(|| not_found("taskId", &id))?;
    Ok(reply::json(StatusCode::OK, task.transitions_json()))
}

pub(super) async fn retry_task(
    State(api): State<Arc<Herodotus>>,
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
    let now = api.shared.clock.now_secs();
    let mut store = lock(&api.store);
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
