//! Durations, rates and times out of range (issue 7, case 5). Each used to panic (exit 101, no
//! report, the run left `running` in the ledger); now a playbook's value out of range is a located
//! error, exit 2, in `validate` as in `play`, before anything is sent; and a provider's `Retry-After`
//! beyond any range fails its item as "more than max_retry_after".

use std::process::Command;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Ran, Runbook, playbook};

/// What every span out of range says, after the span's own text.
const SPAN_BOUND: &str =
    "is out of range: the longest duration runbook takes is 36500d (100 years)";

/// An API that answers every retry with 429 and `Retry-After: retry_after`, and lists tasks.
fn throttling(retry_after: &'static str) -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async { axum::Json(json!({"tasks": [{"id": "t1", "status": "done"}]})) }),
            )
            .route(
                "/tasks/{id}/retry",
                post(move || async move {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, retry_after)],
                        axum::Json(json!({"message": "slow down"})),
                    )
                        .into_response()
                }),
            ),
    )
}

/// The first two lines of stderr: the message and where it points (the arrow's indent trimmed: it
/// follows the width of the line number).
fn located(ran: &Ran) -> Vec<&str> {
    ran.stderr.lines().take(2).map(str::trim_start).collect()
}

/// `validate` and `play` both refuse `text` with exit 2 and the same located message, and `play`
/// sends nothing and writes no report.
fn refused_everywhere(text: &str, vars: &[&str], message: &str, at: &str) {
    let var_args: Vec<String> = vars
        .iter()
        .flat_map(|v| ["--var", v])
        .map(String::from)
        .collect();
    let checked = Runbook::validate(text).args(var_args.clone()).run();
    checked.expect_code(2);
    assert!(!checked.stderr.contains("panicked"), "{checked:?}");
    assert_eq!(
        located(&checked),
        [
            format!("error: {message}").as_str(),
            format!("--> playbook.yaml:{at}").as_str()
        ],
        "{checked:?}"
    );
    let api = throttling("1");
    let played = Runbook::play(text).api(&api).args(var_args).run();
    played.expect_code(2);
    assert_eq!(
        located(&played),
        [
            format!("error: {message}").as_str(),
            format!("--> playbook.yaml:{at}").as_str()
        ],
        "{played:?}"
    );
    assert!(api.requests().is_empty(), "nothing was sent");
    assert!(!played.path("report.json").exists(), "no run, no report");
}

#[test]
fn since_beyond_any_duration_is_a_located_error_not_a_panic() {
    refused_everywhere(
        &playbook("  - fetch: {ids: \"a b\"}\n  - filter: {since: \"18446744073709551615s1s\"}\n"),
        &[],
        &format!("the duration `18446744073709551615s1s` {SPAN_BOUND}"),
        "8:21",
    );
}

#[test]
fn since_out_of_range_through_var_is_a_located_error_not_a_panic() {
    let text = playbook("  - fetch: {ids: \"a b\"}\n  - filter: {since: \"{{ vars.since }}\"}\n")
        .replace("steps:\n", "vars: {since: 1d}\nsteps:\n");
    refused_everywhere(
        &text,
        &["since=18446744073709551615s1s"],
        &format!("the duration `18446744073709551615s1s` {SPAN_BOUND}"),
        "9:21",
    );
}

#[test]
fn ago_with_a_duration_out_of_range_is_a_located_error_not_a_panic() {
    refused_everywhere(
        &playbook(
            "  - fetch:\n      request: {path: /tasks, query: {after: \"{{ ago('18446744073709551615s1s') }}\"}}\n      items: $.tasks[*]\n",
        ),
        &[],
        &format!("invalid template: ago(): the duration `18446744073709551615s1s` {SPAN_BOUND}"),
        "8:46",
    );
}

#[test]
fn ago_out_of_range_through_var_fails_the_fetch_with_the_reason_not_a_panic() {
    // The argument is known only when rendered: the step fails, the report says why.
    let api = throttling("1");
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks, query: {after: \"{{ ago(vars.back) }}\"}}\n      items: $.tasks[*]\n",
    )
    .replace("steps:\n", "vars: {back: 1d}\nsteps:\n");
    let ran = Runbook::play(&text)
        .api(&api)
        .args(["--var", "back=18446744073709551615s1s"])
        .run();
    ran.expect_code(1);
    assert_eq!(
        ran.report()["errors"][0]["message"],
        format!("invalid operation: ago(): the duration `18446744073709551615s1s` {SPAN_BOUND}"),
        "{ran:?}"
    );
    assert!(api.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_rate_with_a_period_out_of_range_is_a_located_error_not_a_panic() {
    refused_everywhere(
        &playbook(
            "  - fetch: {ids: \"a b\"}\n  - retry:\n      rate: 1/30000000000000w\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
        ),
        &[],
        "the rate `1/30000000000000w` is out of range: its period is at most 36500d (100 years)",
        "9:13",
    );
}

#[test]
fn a_connection_rate_out_of_range_is_a_located_error_not_a_panic() {
    let text = playbook(
        "  - fetch: {ids: \"a b\"}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    )
    .replace("  backoff:", "  rate: 1/30000000000000w\n  backoff:");
    refused_everywhere(
        &text,
        &[],
        "the rate `1/30000000000000w` is out of range: its period is at most 36500d (100 years)",
        "5:9",
    );
}

#[test]
fn verify_every_out_of_range_is_a_located_error_not_a_panic() {
    refused_everywhere(
        &playbook(
            "  - fetch: {ids: a}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n  - verify:\n      every: 30000000000000w\n      request: {path: /tasks}\n      item: $.tasks[0]\n      success: [done]\n      failure: [dead]\n",
        ),
        &[],
        &format!("the duration `30000000000000w` {SPAN_BOUND}"),
        "11:14",
    );
}

#[test]
fn max_retry_after_out_of_range_is_a_located_error_not_a_panic() {
    let text = playbook(
        "  - fetch: {ids: a}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    )
    .replace(
        "attempts: 3}",
        "attempts: 3, max_retry_after: 30000000000000w}",
    );
    refused_everywhere(
        &text,
        &[],
        &format!("the duration `30000000000000w` {SPAN_BOUND}"),
        "5:69",
    );
}

/// The run is in the ledger, finished (not left `running` by a panic).
fn assert_finished_in_ledger(ran: &Ran) {
    let run_id = ran.report()["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .arg("history")
        .current_dir(ran.path("."))
        .env_clear()
        .output()
        .expect("runbook history runs");
    let listed = String::from_utf8_lossy(&output.stdout);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&run_id))
        .unwrap_or_else(|| panic!("run {run_id} in the ledger:\n{listed}"));
    assert!(line.contains("finished"), "{line}");
}

#[test]
fn a_retry_after_of_9300000000000000000_seconds_fails_the_item_not_the_process() {
    // The largest max_retry_after there is, and a wait beyond it that used to overflow the clock.
    let api = throttling("9300000000000000000");
    let text = playbook(
        "  - fetch: {ids: t1}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    )
    .replace("attempts: 3}", "attempts: 3, max_retry_after: 36500d}");
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "failed", "{item:#}");
    assert_eq!(
        item["message"],
        "HTTP 429: the provider asked to wait 9300000000000000000s (Retry-After), more than max_retry_after 3153600000s",
        "{item:#}"
    );
    assert_eq!(api.with_method("POST").len(), 1, "not sent again");
    assert_finished_in_ledger(&ran);
}

#[test]
fn a_retry_after_beyond_u64_is_more_than_max_retry_after() {
    let api = throttling("99999999999999999999999999");
    let ran = Runbook::play(&playbook(
        "  - fetch: {ids: t1}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    ))
    .api(&api)
    .run();
    ran.expect_code(1);
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "failed", "{item:#}");
    let message = item["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("HTTP 429: the provider asked to wait ")
            && message.ends_with("s (Retry-After), more than max_retry_after 300s"),
        "{item:#}"
    );
    assert_eq!(api.with_method("POST").len(), 1, "not sent again");
    assert_finished_in_ledger(&ran);
}

#[test]
fn an_epoch_of_i64_min_is_undated_not_a_panic() {
    // `abs()` of i64::MIN overflowed when the filter read the item's time.
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(|| async {
            axum::Json(json!({"tasks": [
                {"id": "old", "status": "failed", "created_at": i64::MIN},
                {"id": "far", "status": "failed", "created_at": u64::MAX},
            ]}))
        }),
    ));
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - filter: {since: 7d}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 2, "{ran:?}");
    assert_eq!(
        ran.total("selected"),
        0,
        "undated items are not selected: {ran:?}"
    );
}

#[test]
fn a_page_number_at_u64_max_ends_the_listing_not_the_process() {
    // `page += 1` overflowed when the playbook started at the largest page number.
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(|| async { axum::Json(json!({"tasks": [{"id": "t1", "status": "failed"}]})) }),
    ));
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n      paginate:\n        page: {param: page, start: 18446744073709551615}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 1, "{ran:?}");
    let pages = api.with_method("GET");
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].param("page"), Some("18446744073709551615"));
}
