//! Beam's endpoints and its NestJS error answers (`{"statusCode","message","error"}`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::{Status, Task};
use super::{Beam, MAX_PAGE_SIZE};
use crate::sandbox::reply::{self, QueryParams, RequestError, shown};
use crate::sandbox::state::lock;
use crate::sandbox::time::parse_instant;

/// A NestJS-style error answer.
pub(super) struct NestError {
    status: StatusCode,
    message: Value,
}

impl NestError {
    pub(super) fn new(status: StatusCode, message: impl Into<Value>) -> NestError {
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

pub(super) type Answer = Result<Response, NestError>;
pub(super) async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> NestError {
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
        let mut note = |result: Result<u64, RequestError>, default: u64| {
            result.unwrap_or_else(|problem| {
                problems.push(problem.to_string());
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
        let text = |key: &str| query.given(key).map(str::to_owned);
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

pub(super) async fn list_tasks(
    State(state): State<Arc<Beam>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    state.authorize(&headers)?;
    let query = ListQuery::parse(raw.as_deref()).map_err(NestError::bad_request)?;
    let store = lock(&state.store);
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

pub(super) async fn latest_executions(
    State(state): State<Arc<Beam>>,
    headers: HeaderMap,
) -> Answer {
    state.authorize(&headers)?;
    let store = lock(&state.store);
    let mut tasks: Vec<&Task> = store.tasks.iter().collect();
    tasks.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let tasks: Vec<Value> = tasks.into_iter().take(10).map(Task::to_json).collect();
    Ok(reply::json(StatusCode::OK, json!({"tasks": tasks})))
}

pub(super) async fn get_task(
    State(state): State<Arc<Beam>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    state.authorize(&headers)?;
    let Ok(Path(id)) = path else {
        return Err(NestError::bad_request("Invalid task id"));
    };
    let (rule, now) = (state.shared.settle_rule(), state.shared.clock.now_secs());
    let mut store = lock(&state.store);
    match store.read(&id, rule, now) {
        Some(task) => Ok(reply::json(StatusCode::OK, task.to_json())),
        None => Err(NestError::not_found(&id)),
    }
}

pub(super) async fn retry_task(
    State(state): State<Arc<Beam>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    state.authorize(&headers)?;
    let body = reply::json_body(&body, Value::Null)
        .map_err(|error| NestError::bad_request(error.to_string()))?;
    let Some(id) = body.get("taskId").and_then(Value::as_str) else {
        return Err(NestError::bad_request(vec!["taskId must be a string"]));
    };
    let now = state.shared.clock.now_secs();
    let mut store = lock(&state.store);
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
