//! Golden run-time aborts (issue 8): when a step stops the run against an API that answers, stderr
//! names the step, its number and its playbook line, and says why, whole. The cases live in
//! `tests/cli/golden/` beside the load-time ones; `RUNBOOK_BLESS=1` rewrites them the same way.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::json;

use crate::FakeApi;
use crate::golden::compare_case;

/// The case directories these tests run (the golden module's own check skips them).
pub(crate) const CASES: &[&str] = &[
    "credentials_refused_mid_run_names_the_step_and_line",
    "max_items_overflow_names_the_step_and_line",
];

/// Three failed tasks, whatever is asked.
fn three_failed_tasks() -> Router {
    Router::new().route(
        "/tasks",
        get(|| async {
            axum::Json(json!({"tasks": [
                {"id": "t1", "status": "failed"},
                {"id": "t2", "status": "failed"},
                {"id": "t3", "status": "failed"},
            ]}))
        }),
    )
}

#[test]
fn credentials_refused_mid_run_names_the_step_and_line() {
    let api = FakeApi::start(three_failed_tasks().route(
        "/tasks/{id}/retry",
        post(|| async { (StatusCode::UNAUTHORIZED, "token expired") }),
    ));
    compare_case(CASES[0], &api);
    assert_eq!(
        api.with_method("POST").len(),
        1,
        "the first refusal stops the run: {:?}",
        api.requests()
    );
}

#[test]
fn max_items_overflow_names_the_step_and_line() {
    let api = FakeApi::start(three_failed_tasks());
    compare_case(CASES[1], &api);
    assert!(
        api.with_method("POST").is_empty(),
        "nothing is retried past the guard: {:?}",
        api.requests()
    );
}
