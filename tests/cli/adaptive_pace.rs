//! `rate: auto` against fake APIs (issue 10): the pace slows down on a throttle and says why on
//! `-v`; a limit announced in headers sets the pace; the JSON report records the pace reached.
//! Nothing here depends on how fast the machine is: the assertions are on what was said and
//! recorded, and on bounds (a pace below its start) that no scheduling delay can break.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

/// Eight items retried four at a time under `rate`.
fn eight_retries(rate: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"a b c d e f g h\"}}\n  - name: resend\n    retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n      concurrency: 4\n      rate: {rate}\n"
    ))
}

/// An API whose third retry answer is 429 with `Retry-After: 1`; every other answer is clean.
fn throttles_the_third() -> FakeApi {
    let calls = Arc::new(AtomicUsize::new(0));
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(move || {
            let calls = Arc::clone(&calls);
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 2 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, "1")],
                        axum::Json(json!({"message": "slow down"})),
                    )
                        .into_response()
                } else {
                    axum::Json(json!({"status": "queued"})).into_response()
                }
            }
        }),
    ))
}

#[test]
fn a_throttle_slows_the_adaptive_pace_says_why_and_the_report_records_it() {
    let api = throttles_the_third();
    let text = eight_retries("{auto: true, start: 20/s, max: 40/s}");
    let ran = Runbook::play(&text).api(&api).arg("-v").run();
    ran.expect_code(0);
    assert_eq!(ran.total("retried"), 8);
    assert!(
        ran.stderr
            .contains("  pace 10/s: slowed down: HTTP 429 (was 20/s)\n"),
        "{ran:?}"
    );
    let report = ran.report();
    let pace = &report["pace"];
    assert_eq!(pace.as_array().map(Vec::len), Some(1), "{report:#}");
    let pace = &pace[0];
    assert_eq!(pace["scope"], "resend");
    assert_eq!(pace["start"], 20.0);
    assert_eq!(pace["slowdowns"], 1);
    assert_eq!(pace["throttled"], 1);
    assert_eq!(pace["announced"], false);
    let reached = pace["reached"].as_f64().expect("a pace reached");
    assert!(reached < 20.0, "slower than it started: {pace}");
}

#[test]
fn a_limit_announced_in_headers_sets_the_pace() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async {
            (
                [
                    ("ratelimit-policy", "\"default\";q=10;w=1"),
                    ("ratelimit", "\"default\";r=9;t=1"),
                ],
                axum::Json(json!({"status": "queued"})),
            )
        }),
    ));
    let ran = Runbook::play(&eight_retries("auto"))
        .api(&api)
        .arg("-v")
        .run();
    ran.expect_code(0);
    assert!(
        ran.stderr
            .contains("  pace 9.5/s: the provider announces 10 requests per 1s (was 5.0/s)\n"),
        "{ran:?}"
    );
    let pace = &ran.report()["pace"][0];
    assert_eq!(pace["announced"], true, "{pace}");
    assert_eq!(pace["reached"], 9.5, "{pace}");
    assert_eq!(pace["throttled"], 0, "{pace}");
}

#[test]
fn a_connection_wide_auto_pace_is_reported_as_the_connections() {
    let api = throttles_the_third();
    let text = eight_retries("auto").replace(
        "  backoff:",
        "  rate: {auto: true, start: 40/s}\n  backoff:",
    );
    let text = text.replace("      rate: auto\n", "");
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    let report = ran.report();
    let pace = &report["pace"][0];
    assert_eq!(pace["scope"], "connection", "{report:#}");
    assert_eq!(pace["slowdowns"], 1, "{pace}");
}

#[test]
fn a_fixed_rate_reports_no_pace() {
    let api = throttles_the_third();
    let ran = Runbook::play(&eight_retries("50/s")).api(&api).run();
    ran.expect_code(0);
    let report = ran.report();
    assert!(report.get("pace").is_none(), "{report:#}");
}
