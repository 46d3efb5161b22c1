//! The whole server: every registered API under its prefix, behind the recording middleware, plus
//! the control endpoints (`/_sandbox/…`) for out-of-process users.
//!
//! Invariants:
//! - The control endpoints are never journaled, faulted nor delayed.
//! - Nothing here names an API: they come as a list of [`EmulatedApi`].

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::api::{self, EmulatedApi};
use super::record::{self, ApiContext};
use super::reply;
use super::state::Shared;

/// What the control endpoints read.
#[derive(Clone)]
struct Control {
    shared: Arc<Shared>,
    apis: Arc<[Arc<dyn EmulatedApi>]>,
}

/// Every API under `/<name>`, plus the control endpoints.
pub(crate) fn app(shared: Arc<Shared>, apis: Arc<[Arc<dyn EmulatedApi>]>) -> Router {
    let mut app = Router::new()
        .route("/_sandbox/requests", get(control_requests))
        .route("/_sandbox/violations", get(control_violations))
        .route("/_sandbox/windows", get(control_windows))
        .route("/_sandbox/tasks/{api}", get(control_tasks))
        .route("/_sandbox/ids/{api}", get(control_ids))
        .fallback(unknown_prefix)
        .with_state(Control {
            shared: Arc::clone(&shared),
            apis: Arc::clone(&apis),
        });
    for api in apis.iter() {
        let context = ApiContext {
            api: Arc::clone(api),
            shared: Arc::clone(&shared),
        };
        let router = Arc::clone(api)
            .router()
            .layer(from_fn_with_state(context, record::record));
        app = app.nest(&format!("/{}", api.name()), router);
    }
    app
}

async fn control_requests(State(control): State<Control>) -> Response {
    reply::json(StatusCode::OK, json!(control.shared.requests()))
}

async fn control_violations(State(control): State<Control>) -> Response {
    reply::json(
        StatusCode::OK,
        json!(control.shared.retry_after_violations()),
    )
}

/// Every Retry-After window announced, `{api, from_ms, until_ms}` (ms since start): what a
/// benchmark needs to know how long the waits the sandbox asked for force a run to last.
async fn control_windows(State(control): State<Control>) -> Response {
    let windows: Vec<serde_json::Value> = (control.shared.windows().into_iter())
        .map(|(api, from_ms, until_ms)| json!({"api": api, "from_ms": from_ms, "until_ms": until_ms}))
        .collect();
    reply::json(StatusCode::OK, json!(windows))
}

/// The API name a control path holds (empty when the path does not parse).
fn path_name(name: Result<Path<String>, PathRejection>) -> String {
    name.map(|Path(name)| name).unwrap_or_default()
}

/// The 404 for a control path naming no API.
fn no_such_api(name: &str) -> Response {
    reply::json(
        StatusCode::NOT_FOUND,
        json!({"error": "not_found", "message": format!("no sandbox API '{}'", reply::shown(name))}),
    )
}

async fn control_tasks(
    State(control): State<Control>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let name = path_name(name);
    match api::named(&control.apis, &name) {
        Some(api) => reply::json(StatusCode::OK, json!(api.snapshot())),
        None => no_such_api(&name),
    }
}

/// The ids of one API's tasks (the first of `id`, `taskId`, `workflow_run_id` in each).
async fn control_ids(
    State(control): State<Control>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let name = path_name(name);
    let Some(api) = api::named(&control.apis, &name) else {
        return no_such_api(&name);
    };
    let ids: Vec<serde_json::Value> = api
        .snapshot()
        .into_iter()
        .filter_map(|task| {
            ["id", "taskId", "workflow_run_id"]
                .into_iter()
                .find_map(|key| task.get(key).cloned())
        })
        .collect();
    reply::json(StatusCode::OK, json!(ids))
}

async fn unknown_prefix(State(control): State<Control>, uri: Uri) -> Response {
    let known: Vec<String> = control
        .apis
        .iter()
        .map(|api| format!("/{}", api.name()))
        .collect();
    reply::json(
        StatusCode::NOT_FOUND,
        json!({
            "error": "not_found",
            "message": format!(
                "no sandbox API at {}; APIs are served under {}",
                reply::shown(uri.path()),
                known.join(", ")
            ),
        }),
    )
}
