//! How retry answers become outcomes: status rules (409 → skipped, 404 → failed), the default for
//! other answers, and refused credentials, which abort the run (exit 3) before anything more is sent.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook, outcomes, playbook};

/// An API that answers each retry by the task id: `ok*` 200, `busy*` 409, `gone*` 404, `bad*` 422.
fn by_id() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            let (status, message) = if id.starts_with("ok") {
                (StatusCode::OK, "queued")
            } else if id.starts_with("busy") {
                (StatusCode::CONFLICT, "already running")
            } else if id.starts_with("gone") {
                (StatusCode::NOT_FOUND, "no such task")
            } else {
                (StatusCode::UNPROCESSABLE_ENTITY, "cannot retry this")
            };
            (status, axum::Json(json!({"message": message}))).into_response()
        }),
    ))
}

fn retry(ids: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"{ids}\"}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n      outcome:\n        status: {{409: skipped, 404: failed}}\n"
    ))
}

#[test]
fn status_rules_decide_each_outcome() {
    let api = by_id();
    let ran = Runbook::play(&retry("ok1 busy1 gone1 bad1"))
        .api(&api)
        .run();
    ran.expect_code(1);
    assert_eq!(
        ran.outcomes(),
        outcomes(&[
            ("ok1", "retried"),
            ("busy1", "skipped"),
            ("gone1", "failed"),
            ("bad1", "failed"),
        ])
    );
    assert_eq!(ran.item("busy1")["http_status"], 409);
    let message = |id: &str| {
        ran.item(id)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        message("busy1").contains("already running"),
        "{}",
        message("busy1")
    );
    assert!(message("gone1").contains("no such task"));
    assert!(
        message("bad1").contains("HTTP 422") && message("bad1").contains("cannot retry this"),
        "an answer with no rule fails with its status and message: {}",
        message("bad1")
    );
    assert_eq!(api.with_method("POST").len(), 4, "each sent once");
}

#[test]
fn skipped_items_do_not_fail_the_run() {
    let api = by_id();
    let ran = Runbook::play(&retry("ok1 ok2 busy1")).api(&api).run();
    ran.expect_code(0);
    assert_eq!(ran.total("retried"), 2);
    assert_eq!(ran.total("skipped"), 1);
    assert_eq!(ran.total("failed"), 0);
}

#[test]
fn a_401_on_a_retry_aborts_the_run_and_sends_nothing_more() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "token expired"})),
            )
        }),
    ));
    let ran = Runbook::play(&retry("a b c d")).api(&api).run();
    ran.expect_code(3);
    let report = ran.report();
    let aborted = report["aborted"].as_str().unwrap_or_default();
    assert!(
        aborted.contains("authentication failed") && aborted.contains("token expired"),
        "{report:#}"
    );
    assert_eq!(
        api.with_method("POST").len(),
        1,
        "after the 401, no other retry is sent"
    );
    assert_eq!(ran.total("retried"), 0);
}

#[test]
fn a_401_on_a_fetch_aborts_the_run() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    (
                        StatusCode::UNAUTHORIZED,
                        axum::Json(json!({"error": "bad token"})),
                    )
                }),
            )
            .route("/tasks/{id}/retry", post(|| async { "never" })),
    );
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(3);
    let aborted = ran.report()["aborted"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        aborted.contains("HTTP 401") && aborted.contains("bad token"),
        "{aborted}"
    );
    assert_eq!(api.requests().len(), 1, "no retry, no second read");
}
