//! Blast-radius guards (`max_selected`, `max_selected_ratio`) abort before any retry request
//! unless `--yes`; the circuit breaker (`max_consecutive_failures`, `max_failure_ratio`) stops
//! sending once it trips. Judged by the requests the sandbox or a fake server received.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;

use super::{Bench, frozen_playbook, head, retry_requests, sandbox, serve};

/// Guards are a top-level block; it may follow the steps.
fn guarded(playbook: &str, guards: &str) -> String {
    format!("{playbook}guards: {guards}\n")
}

/// A guard that trips aborts with exit 3 and sends no retry at all; `--yes` goes past it.
async fn guard_aborts_before_sending(guards: &str, named: &str) {
    let sandbox = sandbox(0, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    bench.freeze_listing(&sandbox);
    bench.write(
        "playbook.yaml",
        &guarded(&frozen_playbook("guarded", 8, ""), guards),
    );
    let out = bench
        .run(&["play", "playbook.yaml", "-o", "report.json"])
        .await;
    out.expect_code(3);
    assert_eq!(
        retry_requests(&sandbox).len(),
        0,
        "a tripped guard sends nothing"
    );
    let report = bench.json("report.json");
    let aborted = report["aborted"].as_str().unwrap_or_default();
    assert!(
        aborted.contains(named)
            && aborted.contains("nothing was sent")
            && aborted.contains("--yes"),
        "{report:#}"
    );
    assert_eq!(report["totals"]["fetched"], 60);
    assert_eq!(report["totals"]["selected"], 30);
    assert_eq!(report["totals"]["retried"], 0);

    let out = bench
        .run(&["play", "playbook.yaml", "--yes", "-o", "report.json"])
        .await;
    out.expect_code(0);
    assert_eq!(
        retry_requests(&sandbox).len(),
        30,
        "--yes goes past the guard"
    );
    let report = bench.json("report.json");
    assert_eq!(report["aborted"], serde_json::Value::Null);
    assert_eq!(report["totals"]["retried"], 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_selected_aborts_before_any_retry_unless_yes() {
    guard_aborts_before_sending("{max_selected: 10}", "guards.max_selected = 10").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn max_selected_ratio_aborts_before_any_retry_unless_yes() {
    // 30 of the 60 listed tasks are selected: a half, more than 0.4.
    guard_aborts_before_sending(
        "{max_selected_ratio: 0.4}",
        "guards.max_selected_ratio = 0.4",
    )
    .await;
}

/// A fake retry API: `ok-*` tasks are retried (200), `bad-*` ones fail (500, not transient).
async fn breaker_run(ids: &str, guards: &str) -> (super::Out, Vec<String>, serde_json::Value) {
    let router = Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            if id.starts_with("ok") {
                (StatusCode::OK, "{}")
            } else {
                (StatusCode::INTERNAL_SERVER_ERROR, r#"{"error": "boom"}"#)
            }
        }),
    );
    let (url, journal) = serve(router).await;
    let bench = Bench::new()
        .env("API_URL", &url)
        .env("TASKS_API_TOKEN", "t");
    let text = format!(
        r#"{head}steps:
  - fetch: {{ids: "{ids}"}}
  - retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
      concurrency: 1
guards: {guards}
"#,
        head = head("breaker")
    );
    bench.write("playbook.yaml", &text);
    let out = bench
        .run(&["play", "playbook.yaml", "-o", "report.json"])
        .await;
    let sent = journal
        .all()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    let report = bench.json("report.json");
    (out, sent, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_stops_sending_after_n_failures_in_a_row() {
    let (out, sent, report) = breaker_run(
        "bad-1 ok-1 bad-2 bad-3 bad-4 bad-5 bad-6 ok-2",
        "{max_consecutive_failures: 3}",
    )
    .await;
    out.expect_code(3);
    assert_eq!(
        sent,
        [
            "/tasks/bad-1/retry",
            "/tasks/ok-1/retry",
            "/tasks/bad-2/retry",
            "/tasks/bad-3/retry",
            "/tasks/bad-4/retry"
        ],
        "a success resets the count; the third failure in a row stops the run"
    );
    let aborted = report["aborted"].as_str().unwrap_or_default();
    assert!(
        aborted.contains("circuit breaker: 3 retries failed in a row"),
        "{report:#}"
    );
    for id in ["bad-5", "bad-6", "ok-2"] {
        let item = report["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or_default();
        assert!(
            item["message"]
                .as_str()
                .is_some_and(|m| m.contains("not sent")),
            "{id} is reported, not sent: {item}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_stops_sending_when_too_many_of_the_last_window_failed() {
    // Window 4, more than half: ok bad bad ok is two of four (goes on); bad-3 makes three of four.
    let (out, sent, report) = breaker_run(
        "ok-1 bad-1 bad-2 ok-2 bad-3 ok-3 ok-4 ok-5",
        "{max_failure_ratio: 0.5, window: 4}",
    )
    .await;
    out.expect_code(3);
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert_eq!(sent.last().map(String::as_str), Some("/tasks/bad-3/retry"));
    let aborted = report["aborted"].as_str().unwrap_or_default();
    assert!(
        aborted.contains("circuit breaker: 3 of the last 4 retries failed"),
        "{report:#}"
    );
    assert_eq!(report["totals"]["retried"], 2);
}
