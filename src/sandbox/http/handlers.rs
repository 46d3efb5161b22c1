//! The `http` API's endpoints and its error answers (`{"error": code, "message": …}`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::{Status, Task};
use super::store::RetryRefusal;
use super::{DEFAULT_PAGE_SIZE, Http, MAX_BATCH, MAX_PAGE_SIZE, TOKEN};
use crate::sandbox::gate::{Admitted, Gate};
use crate::sandbox::reply::{self, QueryParams, RequestError, shown};
use crate::sandbox::state::lock;

/// An error answer of the `http` API: `{"error": code, "message": message}`.
pub(crate) struct ApiError {
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

    fn bad_request(error: RequestError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
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

pub(super) type Answer = Result<Response, ApiError>;

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

impl Gate for Http {
    type Refusal = ApiError;

    fn authorize(&self, headers: &HeaderMap, _: Option<&str>) -> Result<(), ApiError> {
        authorize(headers)
    }

    fn undecodable<T: Default>(rejection: PathRejection) -> Result<T, ApiError> {
        Err(ApiError::bad_request(RequestError::InvalidPathId(
            rejection.to_string(),
        )))
    }
}

pub(super) async fn not_found_route(headers: HeaderMap) -> ApiError {
    if let Err(refusal) = authorize(&headers) {
        return refusal;
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

pub(super) async fn method_not_allowed() -> ApiError {
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
    fn parse(query: &QueryParams) -> Result<Paging, RequestError> {
        let page_style = query.has("page") || query.has("per_page");
        let offset_style = query.has("offset");
        if query.has("cursor") {
            if page_style || offset_style {
                return Err(RequestError::CursorWithOtherPaging);
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
                return Err(RequestError::PageWithOffset);
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

fn decode_cursor(cursor: &str) -> Result<(i64, String), RequestError> {
    let invalid = || RequestError::InvalidCursor(shown(cursor));
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let rest = text.strip_prefix("v1:").ok_or_else(invalid)?;
    let (created_at, id) = rest.split_once(':').ok_or_else(invalid)?;
    let created_at = created_at.parse().map_err(|_| invalid())?;
    Ok((created_at, id.to_owned()))
}

fn status_filter(query: &QueryParams) -> Result<Vec<Status>, RequestError> {
    query
        .list("status")
        .into_iter()
        .map(|text| {
            Status::parse(text).ok_or_else(|| {
                let known: Vec<_> = Status::ALL.iter().map(|status| status.as_str()).collect();
                RequestError::UnknownStatus {
                    got: shown(text),
                    expected: known.join(", "),
                }
            })
        })
        .collect()
}

pub(super) async fn list_tasks(
    State(api): State<Arc<Http>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    authorize(&headers)?;
    let query = QueryParams::parse(raw.as_deref());
    let filter = status_filter(&query).map_err(ApiError::bad_request)?;
    let paging = Paging::parse(&query).map_err(ApiError::bad_request)?;

    let mut store = lock(&api.store);
    let (tasks, matching) = store.listing(&filter);
    let total = matching.len();
    let (start, size) = match &paging {
        Paging::Page { page, per_page } => {
            (page.saturating_sub(1).saturating_mul(*per_page), *per_page)
        }
        Paging::Offset { offset, limit } => (*offset, *limit),
        Paging::Cursor { after, limit } => {
            let start = match after {
                // List order is the sort order, so the tasks after the cursor are a suffix.
                Some((created_at, id)) => {
                    matching.partition_point(|&at| !tasks[at].is_after((*created_at, id)))
                }
                None => 0,
            };
            (start as u64, *limit)
        }
    };
    let start = usize::try_from(start).unwrap_or(usize::MAX).min(total);
    let end = start
        .saturating_add(usize::try_from(size).unwrap_or(usize::MAX))
        .min(total);
    let page: Vec<&Task> = matching[start..end].iter().map(|&at| &tasks[at]).collect();

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
        format!("{}/http/tasks?{}", api.shared.origin, url.finish())
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

pub(super) async fn get_task(
    State(api): State<Arc<Http>>,
    Admitted(id): Admitted<String>,
) -> Answer {
    let (rule, now) = (api.shared.settle_rule(), api.shared.clock.now_secs());
    match lock(&api.store).read(&id, rule, now) {
        Some(task) => Ok(reply::json(StatusCode::OK, task.to_json())),
        None => Err(ApiError::not_found(&id)),
    }
}

pub(super) async fn retry_one(
    State(api): State<Arc<Http>>,
    Admitted(id): Admitted<String>,
) -> Answer {
    let now = api.shared.clock.now_secs();
    match lock(&api.store).retry(&id, now) {
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
fn batch_ids(body: &[u8]) -> Result<Vec<String>, RequestError> {
    let value = reply::json_body(body, Value::Null)?;
    let shape_error = || RequestError::BadIdBatch { max: MAX_BATCH };
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

pub(super) async fn retry_batch(
    State(api): State<Arc<Http>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    authorize(&headers)?;
    let ids = batch_ids(&body).map_err(ApiError::bad_request)?;
    let now = api.shared.clock.now_secs();
    let mut store = lock(&api.store);
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
