//! Deep Work's endpoints; errors are FastAPI's `{"detail": …}`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::model::{Project, Status, Task};
use super::{Deepwork, LIST_CAP, TOKEN};
use crate::sandbox::fastapi::Detail;
use crate::sandbox::gate::{Admitted, Gate};
use crate::sandbox::reply::{self, QueryParams};
use crate::sandbox::state::lock;

pub(super) type Answer = Result<Response, Detail>;

fn authorize(api: &Deepwork, headers: &HeaderMap, query: &QueryParams) -> Result<(), Detail> {
    if lock(&api.store).localhost_bypass {
        return Ok(());
    }
    let query_token = query.one("token").ok().flatten();
    if reply::bearer(headers) == Some(TOKEN) || query_token == Some(TOKEN) {
        Ok(())
    } else {
        Err(Detail::new(StatusCode::UNAUTHORIZED, "Unauthorized"))
    }
}

impl Gate for Deepwork {
    type Refusal = Detail;

    fn authorize(&self, headers: &HeaderMap, query: Option<&str>) -> Result<(), Detail> {
        authorize(self, headers, &QueryParams::parse(query))
    }

    fn undecodable<T: Default>(_: PathRejection) -> Result<T, Detail> {
        Err(Detail::no_route())
    }
}

/// The opening of a list route: its query, once the caller's credentials pass, and its `limit`.
fn open_list(
    api: &Deepwork,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> Result<(QueryParams, usize), Detail> {
    let query = QueryParams::parse(raw);
    authorize(api, headers, &query)?;
    let limit = list_limit(&query)?;
    Ok((query, limit))
}

/// The `limit` of a list route: 1 to 1000, 100 when absent (FastAPI's 422 otherwise).
fn list_limit(query: &QueryParams) -> Result<usize, Detail> {
    let limit = query
        .number("limit", 100, 1, 1000)
        .map_err(|error| Detail::invalid_query("limit", None, error.to_string(), None))?;
    Ok(usize::try_from(limit).unwrap_or(usize::MAX))
}

/// The 404 of a route naming a project that does not exist.
fn no_project() -> Detail {
    Detail::new(StatusCode::NOT_FOUND, "Project not found")
}

/// A list answer `{<key>: [first `limit` entries], count}`; `count` is taken from the entries as
/// capped ([`LIST_CAP`]), before the limit, as PocketPaw does.
fn capped_list(key: &str, matching: impl Iterator<Item = Value>, limit: usize) -> Response {
    let matching: Vec<Value> = matching.take(LIST_CAP).collect();
    let count = matching.len();
    let entries: Vec<Value> = matching.into_iter().take(limit).collect();
    reply::json(StatusCode::OK, json!({key: entries, "count": count}))
}

pub(super) async fn list_tasks(
    State(api): State<Arc<Deepwork>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let (query, limit) = open_list(&api, &headers, raw.as_deref())?;
    let status = query.given("status");
    let assignee = query.given("assignee_id");
    let tags = query.list("tags");
    let store = lock(&api.store);
    let mut by_update: Vec<&Task> = store.tasks.iter().collect();
    by_update.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let matching = by_update
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
        });
    Ok(capped_list("tasks", matching, limit))
}

pub(super) async fn get_task(
    State(api): State<Arc<Deepwork>>,
    Admitted(task_id): Admitted<String>,
) -> Answer {
    let (rule, now) = (api.shared.settle_rule(), api.shared.clock.now_secs());
    let mut store = lock(&api.store);
    let task = store
        .read(&task_id, rule, now)
        .ok_or_else(|| Detail::new(StatusCode::NOT_FOUND, "Task not found"))?;
    Ok(reply::json(
        StatusCode::OK,
        json!({"task": task.to_json(), "messages": []}),
    ))
}

pub(super) async fn list_projects(
    State(api): State<Arc<Deepwork>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let (query, limit) = open_list(&api, &headers, raw.as_deref())?;
    let status = query.given("status");
    let store = lock(&api.store);
    let matching = store
        .projects
        .iter()
        .filter(|project| status.is_none_or(|status| project.status == status))
        .map(Project::to_json);
    Ok(capped_list("projects", matching, limit))
}

pub(super) async fn get_project(
    State(api): State<Arc<Deepwork>>,
    Admitted(project_id): Admitted<String>,
) -> Answer {
    let store = lock(&api.store);
    let project = store.project(&project_id).ok_or_else(no_project)?;
    Ok(reply::json(
        StatusCode::OK,
        json!({
            "project": project.to_json(),
            "tasks": store.project_tasks(project.id),
            "progress": store.progress(project.id),
        }),
    ))
}

pub(super) async fn get_plan(
    State(api): State<Arc<Deepwork>>,
    Admitted(project_id): Admitted<String>,
) -> Answer {
    let store = lock(&api.store);
    let project = store.project(&project_id).ok_or_else(no_project)?;
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

pub(super) async fn retry_task(
    State(api): State<Arc<Deepwork>>,
    Admitted((project_id, task_id)): Admitted<(String, String)>,
) -> Answer {
    let now = api.shared.clock.now_secs();
    let mut store = lock(&api.store);
    if !store.retry_route {
        return Err(Detail::no_route());
    }
    if store.project(&project_id).is_none() {
        return Err(no_project());
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
        .find(|project| project.id == project_id.as_str())
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
