//! Issue 13, points 5 and 6, on the generic adapter: an answer listed in `outcome.ambiguous` (the
//! provider may have acted before it failed) is checked, not resent blindly, and a retry counter
//! that grew proves the retry was carried out; an answer listed in `outcome.missing_route` (a web
//! framework's own 404) stops the run naming the route, instead of failing every item.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

/// One failed task `t1` whose retry is saved (its `attempts` go up) and then answered 500.
fn saves_then_500() -> FakeApi {
    let attempts = Arc::new(AtomicU64::new(1));
    let (a, b) = (Arc::clone(&attempts), Arc::clone(&attempts));
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async { axum::Json(json!([{"id": "t1", "status": "failed", "attempts": 1}])) }),
            )
            .route(
                "/tasks/t1",
                get(move || {
                    let n = a.load(Ordering::SeqCst);
                    async move { axum::Json(json!({"id": "t1", "status": "failed", "attempts": n})) }
                }),
            )
            .route(
                "/tasks/t1/retry",
                post(move || {
                    b.fetch_add(1, Ordering::SeqCst);
                    async {
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            axum::Json(json!({"detail": "dispatch failed"})),
                        )
                    }
                }),
            ),
    )
}

fn retry_with(extra: &str) -> String {
    playbook(&format!(
        "  - fetch: {{request: {{path: /tasks}}}}\n  - filter: {{status_in: [failed]}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n      check: {{request: {{path: \"/tasks/{{{{ task.id }}}}\"}}}}\n{extra}"
    ))
}

/// The counter grew from 1 to 2, so the retry happened although the status still says failed
/// (the work failed again at once): retried, and sent once.
#[test]
fn an_ambiguous_500_whose_counter_grew_is_retried_and_sent_once() {
    let api = saves_then_500();
    let text = retry_with(
        "      outcome: {ambiguous: [500]}\n      counter: $.attempts\n      on_ambiguous: check\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    assert_eq!(api.with_method("POST").len(), 1);
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "retried", "{item:#}");
    assert_eq!(
        item["message"],
        "HTTP 500: dispatch failed; the provider may have carried it out before failing, so it was not sent again; checked: the provider shows failed with $.attempts 2 (was 1), so it was carried out"
    );
}

/// Without `ambiguous`, a 500 is what it always was: failed (exit 1), not checked.
#[test]
fn a_500_not_declared_ambiguous_is_failed() {
    let api = saves_then_500();
    let ran = Runbook::play(&retry_with("")).api(&api).run();
    ran.expect_code(1);
    assert_eq!(ran.item("t1")["outcome"], "failed");
    assert_eq!(api.with_method("GET").len(), 1, "only the listing was read");
}

/// Two failed tasks; every retry gets `404 {"detail": "Not Found"}` (no such route) or, for
/// `unknown`, the API's own `404 {"detail": "Task not found"}`.
fn answers_404(detail: &'static str) -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    axum::Json(
                        json!([{"id": "t1", "status": "failed"}, {"id": "t2", "status": "failed"}]),
                    )
                }),
            )
            .fallback(move || async move {
                (StatusCode::NOT_FOUND, axum::Json(json!({"detail": detail})))
            }),
    )
}

const MISSING_ROUTE: &str = "      outcome:\n        missing_route:\n          - {when: \"@.detail == 'Not Found'\", hint: \"The retry route came with release 2.\"}\n";

#[test]
fn a_missing_route_aborts_after_one_request_naming_it() {
    let api = answers_404("Not Found");
    let ran = Runbook::play(&retry_with(MISSING_ROUTE)).api(&api).run();
    ran.expect_code(3);
    assert_eq!(api.with_method("POST").len(), 1, "no retry after the first");
    let report = ran.report();
    assert_eq!(
        report["aborted"],
        format!(
            "step retry: the server has no route POST /tasks/t1/retry (HTTP 404 {}): every retry would get the same answer, so none was sent after it. The retry route came with release 2.",
            json!({"detail": "Not Found"})
        )
        .as_str(),
        "{report:#}"
    );
}

#[test]
fn the_apis_own_404_is_still_a_failed_item() {
    let api = answers_404("Task not found");
    let ran = Runbook::play(&retry_with(MISSING_ROUTE)).api(&api).run();
    ran.expect_code(1);
    assert_eq!(api.with_method("POST").len(), 2);
    assert_eq!(ran.item("t1")["outcome"], "failed");
    assert_eq!(ran.item("t2")["outcome"], "failed");
}
