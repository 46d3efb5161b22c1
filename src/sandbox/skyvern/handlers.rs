//! Skyvern's endpoints: `x-api-key` authentication, the list filters, retries that create new
//! runs; errors are FastAPI's `{"detail": …}`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::model::{Refusal, Run, STATUSES, WORKFLOWS, is_final};
use super::store::new_run_id;
use super::{API_KEY, Skyvern};
use crate::sandbox::fastapi::Detail;
use crate::sandbox::gate::{Admitted, Gate};
use crate::sandbox::reply::{self, QueryParams, shown};
use crate::sandbox::settle::Progress;
use crate::sandbox::state::lock;
use crate::sandbox::time::parse_instant;

pub(super) type Answer = Result<Response, Detail>;

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

impl Gate for Skyvern {
    type Refusal = Detail;

    fn authorize(&self, headers: &HeaderMap, _: Option<&str>) -> Result<(), Detail> {
        authorize(headers)
    }

    /// An id that does not decode is read as the empty id, which no run has (FastAPI's 404).
    fn undecodable<T: Default>(_: PathRejection) -> Result<T, Detail> {
        Ok(T::default())
    }
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
                .map_err(|error| Detail::invalid_query(key, None, error.to_string(), Some(&text)))
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
                    Some(status),
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
                Some(""),
            ));
        }
        let instant = |key: &str| -> Result<Option<i64>, Detail> {
            match query.one(key).ok().flatten() {
                Some(text) if with_dates => parse_instant(text).map(Some).ok_or_else(|| {
                    Detail::invalid_query(
                        key,
                        None,
                        "Input should be a valid datetime".into(),
                        Some(text),
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

fn list(api: &Skyvern, query: &ListQuery, workflow: Option<usize>) -> Response {
    let store = lock(&api.store);
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

pub(super) async fn list_all_runs(
    State(api): State<Arc<Skyvern>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    authorize(&headers)?;
    let query = ListQuery::parse(raw.as_deref(), false)?;
    Ok(list(&api, &query, None))
}

pub(super) async fn list_agent_runs(
    State(api): State<Arc<Skyvern>>,
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
    Ok(list(&api, &query, Some(workflow)))
}

pub(super) async fn get_run(
    State(api): State<Arc<Skyvern>>,
    Admitted(id): Admitted<String>,
) -> Answer {
    let (rule, now) = (api.shared.settle_rule(), api.shared.clock.now_secs());
    let mut store = lock(&api.store);
    let run = store.read(&id, rule, now).ok_or_else(|| {
        Detail::new(
            StatusCode::NOT_FOUND,
            format!("Task run not found {}", shown(&id)),
        )
    })?;
    Ok(reply::json(StatusCode::OK, run.to_response_json()))
}

pub(super) async fn retry_run(
    State(api): State<Arc<Skyvern>>,
    Admitted(id): Admitted<String>,
) -> Answer {
    let now = api.shared.clock.now_secs();
    let mut store = lock(&api.store);
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
