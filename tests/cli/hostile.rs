//! Hostile answers: bodies past the 16 MiB cap, answers that never come within
//! `connection.timeout`, and bodies that break off. Each fails its item (or its fetch) with a
//! message that says why; the run goes on, the report is written and the ledger records the run.

use std::process::Command;
use std::sync::OnceLock;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Ran, Runbook, playbook};

/// The cap on an answer's body, as runbook says it.
const CAP: &str = "larger than 16777216 bytes";

/// A JSON body of 17 MiB: an array of tasks, well formed, just too long.
fn huge() -> Bytes {
    static HUGE: OnceLock<Bytes> = OnceLock::new();
    HUGE.get_or_init(|| {
        let task = r#"{"id": "x", "status": "failed", "padding": "................................................................"},"#;
        let mut text = String::from(r#"{"tasks": ["#);
        while text.len() < 17 * 1024 * 1024 {
            text.push_str(task);
        }
        text.push_str(r#"{"id": "last"}]}"#);
        Bytes::from(text)
    })
    .clone()
}

fn huge_answer() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        huge(),
    )
        .into_response()
}

/// An answer that starts and then breaks off: the status line, the headers and the first bytes
/// go out, then the connection fails mid-body.
fn broken_answer() -> Response {
    let chunks = futures_util::stream::unfold(0, |step| async move {
        match step {
            0 => Some((Ok(Bytes::from_static(br#"{"tasks": [{"id": "a", "sta"#)), 1)),
            1 => {
                // Let the first bytes leave before the failure.
                tokio::task::yield_now().await;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Some((Err(std::io::Error::other("the server fell over")), 2))
            }
            _ => None,
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `runbook history` in the run's directory: the ledger's account of past runs.
fn history(ran: &Ran) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .arg("history")
        .current_dir(ran.path("."))
        .env_clear()
        .output()
        .expect("runbook history runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The run is in the ledger, finished.
fn assert_recorded(ran: &Ran) {
    let run_id = ran.report()["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    let listed = history(ran);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&run_id))
        .unwrap_or_else(|| panic!("run {run_id} in the ledger:\n{listed}"));
    assert!(line.contains("finished"), "{line}");
}

fn retry_ids(ids: &str, timeout: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"{ids}\"}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n"
    ))
    .replace(
        "  backoff:",
        &format!("  timeout: {timeout}\n  connect_timeout: 1s\n  backoff:"),
    )
}

#[test]
fn a_huge_listing_fails_the_fetch_naming_the_cap_and_the_run_goes_on() {
    let api = FakeApi::start(
        Router::new()
            .route("/tasks", get(|| async { huge_answer() }))
            .route(
                "/small",
                get(|| async { axum::Json(json!({"tasks": [{"id": "s1"}]})) }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { StatusCode::NO_CONTENT }),
            ),
    );
    let text = playbook(
        "  - name: big\n    fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - name: small\n    fetch:\n      request: {path: /small}\n      items: $.tasks[*]\n  - retry:\n      input: small\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    assert!(!ran.stderr.contains("panicked"), "{ran:?}");
    let report = ran.report();
    assert_eq!(report["errors"][0]["step"], "big", "{report:#}");
    let message = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(CAP), "{message}");
    assert_eq!(
        ran.outcomes(),
        crate::outcomes(&[("s1", "retried")]),
        "the next step ran"
    );
    assert_recorded(&ran);
}

#[test]
fn a_huge_retry_answer_fails_that_item_only() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            if id == "big" {
                huge_answer()
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }),
    ));
    let ran = Runbook::play(&retry_ids("a big b", "30s"))
        .api(&api)
        .report("report.md")
        .run();
    ran.expect_code(1);
    for id in ["a", "b"] {
        assert_eq!(ran.item(id)["outcome"], "retried", "{id}");
    }
    let big = ran.item("big");
    assert_ne!(big["outcome"], "retried", "{big:#}");
    let message = big["message"].as_str().unwrap_or_default();
    assert!(message.contains(CAP), "{message}");
    assert_eq!(
        api.with_method("POST")
            .iter()
            .filter(|r| r.path.contains("big"))
            .count(),
        1,
        "an answer that was cut short may mean the retry was carried out: never sent again"
    );
    assert!(ran.path("report.md").is_file());
    assert_recorded(&ran);
}

#[test]
fn a_huge_enrich_answer_fails_that_item_only() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks/{id}",
                get(|Path(id): Path<String>| async move {
                    if id == "big" {
                        huge_answer()
                    } else {
                        axum::Json(json!({"id": id, "status": "failed"})).into_response()
                    }
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { StatusCode::NO_CONTENT }),
            ),
    );
    let text = playbook(
        "  - fetch:\n      ids: \"a big\"\n      enrich: {request: {path: \"/tasks/{{ task.id }}\"}, item: $}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    assert_eq!(ran.item("a")["outcome"], "retried");
    let big = ran.item("big");
    assert_eq!(big["outcome"], "failed", "{big:#}");
    let message = big["message"].as_str().unwrap_or_default();
    assert!(message.contains(CAP), "{message}");
    assert_recorded(&ran);
}

#[test]
fn a_retry_that_never_answers_within_the_timeout_fails_and_the_run_goes_on() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            if id == "slow" {
                // Never answers: only the client's timeout ends the request.
                std::future::pending::<()>().await;
            }
            StatusCode::NO_CONTENT
        }),
    ));
    let ran = Runbook::play(&retry_ids("a slow b", "1s"))
        .api(&api)
        .report("report.md")
        .run();
    ran.expect_code(1);
    for id in ["a", "b"] {
        assert_eq!(ran.item(id)["outcome"], "retried", "{id}");
    }
    let slow = ran.item("slow");
    assert_ne!(slow["outcome"], "retried", "{slow:#}");
    let message = slow["message"].as_str().unwrap_or_default();
    assert!(message.contains("timed out"), "{message}");
    let sent: Vec<_> = api
        .with_method("POST")
        .into_iter()
        .filter(|r| r.path.contains("slow"))
        .collect();
    assert_eq!(sent.len(), 1, "a retry that timed out is not sent again");
    assert!(ran.path("report.md").is_file());
    assert_recorded(&ran);
}

#[test]
fn a_listing_that_never_answers_fails_the_fetch_and_the_report_is_written() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    std::future::pending::<()>().await;
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { StatusCode::NO_CONTENT }),
            ),
    );
    let text = playbook(
        "  - name: list\n    fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    )
    .replace("  backoff: {initial: 10ms, max: 50ms, attempts: 3}", "  timeout: 1s\n  backoff: {initial: 10ms, max: 50ms, attempts: 2}");
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    let report = ran.report();
    let message = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("timed out"), "{message}");
    assert_eq!(api.with_method("GET").len(), 2, "a read is tried again");
    assert!(api.with_method("POST").is_empty());
    assert_recorded(&ran);
}

#[test]
fn an_answer_that_breaks_off_fails_with_a_clear_message() {
    let api = FakeApi::start(
        Router::new()
            .route("/tasks", get(|| async { broken_answer() }))
            .route(
                "/tasks/{id}/retry",
                post(|Path(id): Path<String>| async move {
                    if id == "cut" {
                        broken_answer()
                    } else {
                        StatusCode::NO_CONTENT.into_response()
                    }
                }),
            ),
    );
    let text = playbook(
        "  - name: list\n    fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - name: ids\n    fetch: {ids: \"a cut\"}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    let report = ran.report();
    let message = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("broke off"), "{report:#}");
    assert_eq!(ran.item("a")["outcome"], "retried");
    let cut = ran.item("cut");
    assert_ne!(cut["outcome"], "retried", "{cut:#}");
    let message = cut["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("broke off") && message.contains("not sent again"),
        "{message}"
    );
    assert_recorded(&ran);
}

/// Regression: an answer of a hundred thousand objects without an id printed a warning for each
/// (millions of lines for an answer near the cap); now a few, then one line counting the rest.
#[test]
fn items_without_an_id_are_warned_about_a_few_times_then_counted() {
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(|| async {
            let items = vec![json!({"name": "no id"}); 100_000];
            axum::Json(json!({"tasks": items}))
        }),
    ));
    // Above the default max_items (50000), raised so the warnings are what is tested.
    let text = playbook(
        "  - name: list\n    fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n      max_items: 100000\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    let warnings: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert!(warnings.len() <= 6, "{} warning lines", warnings.len());
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("99995 more items could not be read")),
        "{warnings:#?}"
    );
    assert_eq!(ran.total("fetched"), 0);
    assert_recorded(&ran);
}
