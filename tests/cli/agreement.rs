//! Issue 8: an item's result is decided once and every reader sees the same one. One run with the
//! ledger on, progress in plain mode (stderr is not a terminal here) and a JSON report; the three
//! must tell the same outcome and the same counts.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{FakeApi, Ran, Runbook, outcomes, playbook};

/// Retries: `ok*` 200, `lost*` 500 (the provider may have acted: ambiguous), others 422. Reads:
/// every task has succeeded.
fn api() -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks/{id}/retry",
                post(|Path(id): Path<String>| async move {
                    let status = if id.starts_with("ok") {
                        StatusCode::OK
                    } else if id.starts_with("lost") {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    };
                    (status, axum::Json(json!({"message": "answer"}))).into_response()
                }),
            )
            .route(
                "/tasks/{id}",
                get(|Path(id): Path<String>| async move {
                    axum::Json(json!({"id": id, "status": "succeeded"}))
                }),
            ),
    )
}

/// Retry `ids`, a 500 given up as ambiguous, then verify what was retried.
fn retry_and_verify(ids: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"{ids}\"}}
  - name: retry
    retry:
      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}
      outcome: {{ambiguous: [500]}}
      on_ambiguous: give_up
  - name: verify
    verify:
      request: {{path: \"/tasks/{{{{ task.id }}}}\"}}
      success: [succeeded]
      failure: [failed]
      every: 10ms
      timeout: 5s
"
    ))
}

/// What the ledger holds of the run: each item's recorded outcome (`None`: in flight) and the
/// run's stored counts (`retried`, `failed`) and report.
struct Ledger {
    outcomes: Vec<(String, Option<String>)>,
    retried: u64,
    failed: u64,
    report: String,
}

fn ledger(ran: &Ran) -> Ledger {
    let db = rusqlite::Connection::open(ran.path(".runbook/ledger.db")).expect("the ledger opens");
    let mut stmt = db
        .prepare("SELECT item_id, outcome FROM request_items ORDER BY item_id")
        .expect("request_items");
    let outcomes = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows read");
    let (retried, failed, report) = db
        .query_row("SELECT retried, failed, report FROM runs", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
        })
        .expect("one run");
    Ledger {
        outcomes,
        retried: retried as u64,
        failed: failed as u64,
        report,
    }
}

/// The plain progress lines of `step` after it started, each without its timestamp.
fn progress_lines(ran: &Ran, step: &str) -> Vec<String> {
    ran.stderr
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, line)| line))
        .filter(|l| l.starts_with(&format!("{step}: ")))
        .filter(|l| !l.contains(": started"))
        .map(str::to_string)
        .collect()
}

#[test]
fn one_item_through_retry_and_verify_agrees_in_ledger_progress_and_report() {
    let api = api();
    let ran = Runbook::play(&retry_and_verify("ok1")).api(&api).run();
    ran.expect_code(0);

    let report = ran.report();
    assert_eq!(ran.outcomes(), outcomes(&[("ok1", "recovered")]));
    assert_eq!(
        ran.item("ok1")["message"],
        "settled succeeded",
        "verify's finding is added to the retry's result"
    );
    let totals = &report["totals"];
    assert_eq!(
        (totals["selected"].as_u64(), totals["retried"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(totals["recovered"], 1);
    assert_eq!(totals["failed"], 0);

    let ledger = ledger(&ran);
    assert_eq!(
        ledger.outcomes,
        [("ok1".to_string(), Some("retried".to_string()))],
        "the ledger records the retry's answer"
    );
    assert_eq!((ledger.retried, ledger.failed), (1, 0));
    let stored: Value = serde_json::from_str(&ledger.report).expect("stored report is JSON");
    assert_eq!(stored, report, "the ledger stores the very report written");

    // The running line, when it carries a rate (the step took a second), is printed before the
    // finished one; else it says the same and is left out. The counters agree either way.
    let lines = progress_lines(&ran, "retry");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("retry: 1/1 ") && l.ends_with(" retried 1 failed 0")),
        "{}",
        ran.stderr
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("retry: 1/1 retried 1 failed 0"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        progress_lines(&ran, "verify").last().map(String::as_str),
        Some("verify: 1/1 recovered 1 still failing 0"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_failed_and_an_unknown_item_agree_in_ledger_progress_and_report() {
    let api = api();
    let ran = Runbook::play(&retry_and_verify("bad1 lost1"))
        .api(&api)
        .run();
    ran.expect_code(1);

    assert_eq!(
        ran.outcomes(),
        outcomes(&[("bad1", "failed"), ("lost1", "unknown")])
    );
    let totals = &ran.report()["totals"];
    assert_eq!(
        (totals["retried"].as_u64(), totals["failed"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(totals["unknown"], 1);

    let ledger = ledger(&ran);
    assert_eq!(
        ledger.outcomes,
        [
            ("bad1".to_string(), Some("failed".to_string())),
            ("lost1".to_string(), None),
        ],
        "an unknown item's intent stays open, for a resumed run to check"
    );
    assert_eq!((ledger.retried, ledger.failed), (0, 1));
    let stored: Value = serde_json::from_str(&ledger.report).expect("stored report is JSON");
    assert_eq!(stored, ran.report());

    // Progress counts `unknown` apart from the failures (issue 11, point 6; it said "failed 2").
    let lines = progress_lines(&ran, "retry");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("retry: 2/2 retried 0 failed 1 unknown 1"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        progress_lines(&ran, "verify").last().map(String::as_str),
        Some("verify: 0/0 recovered 0 still failing 0"),
        "nothing was retried, so nothing is verified"
    );
}
