//! The `max_pages` guard: a listing longer than allowed aborts the run (exit 3) rather than retry a
//! partial list, and nothing is retried.

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

#[test]
fn more_pages_than_max_pages_aborts_before_any_retry() {
    // An endless listing: every page has a next cursor.
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|Query(q): Query<HashMap<String, String>>| async move {
                    let n: u64 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
                    axum::Json(json!({
                        "tasks": [{"id": format!("t{n}"), "status": "failed"}],
                        "next": (n + 1).to_string(),
                    }))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { axum::Json(json!({"ok": true})) }),
            ),
    );
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n      paginate:\n        cursor: {next: $.next}\n        max_pages: 3\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(3);
    let report = ran.report();
    let aborted = report["aborted"].as_str().unwrap_or_default();
    assert!(
        aborted.contains("max_pages = 3"),
        "aborted says why: {report:#}"
    );
    assert_eq!(
        api.with_method("GET").len(),
        3,
        "exactly max_pages pages read"
    );
    assert!(api.with_method("POST").is_empty(), "no retry was sent");
    assert_eq!(report["totals"]["retried"], 0);
    assert!(
        ran.stdout.contains("ABORTED"),
        "the summary says so:\n{ran:?}"
    );
}

#[test]
fn exactly_max_pages_pages_is_not_an_abort() {
    // Three pages, the last with no next cursor: the guard allows exactly three.
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|Query(q): Query<HashMap<String, String>>| async move {
                    let n: u64 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
                    let next = (n < 2).then(|| (n + 1).to_string());
                    axum::Json(json!({
                        "tasks": [{"id": format!("t{n}"), "status": "failed"}],
                        "next": next,
                    }))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { axum::Json(json!({"ok": true})) }),
            ),
    );
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n      paginate:\n        cursor: {next: $.next}\n        max_pages: 3\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    assert!(ran.report()["aborted"].is_null());
    assert_eq!(api.with_method("GET").len(), 3);
    assert_eq!(api.with_method("POST").len(), 3);
}
