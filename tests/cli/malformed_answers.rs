//! Answers that are not what the playbook expects: HTML, truncated JSON, JSON of the wrong shape.
//! A fetch that gets one fails with a message saying what was expected (exit 1, report still
//! written); a retry that gets one fails that item only. Nothing panics.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Ran, Runbook, playbook};

const HTML: &str =
    "<!doctype html><html><head><title>Sign in</title></head><body>Please sign in</body></html>";
const TRUNCATED: &str = r#"{"tasks": [{"id": "a", "status": "failed"}, {"id": "b", "sta"#;

fn html(status: StatusCode) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        HTML,
    )
        .into_response()
}

fn truncated(status: StatusCode) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        TRUNCATED,
    )
        .into_response()
}

/// A listing that answers `answer`, then a retry of what it found.
fn fetch_gets(answer: fn() -> Response) -> (FakeApi, Ran) {
    let api = FakeApi::start(
        Router::new()
            .route("/tasks", get(move || async move { answer() }))
            .route("/tasks/{id}/retry", post(|| async { "never" })),
    );
    let text = playbook(
        "  - name: list\n    fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    (api, ran)
}

/// The fetch failed (exit 1) with a message containing each of `expected`, the report was
/// written, and nothing was retried.
fn assert_fetch_failed(api: &FakeApi, ran: &Ran, expected: &[&str]) {
    ran.expect_code(1);
    assert!(!ran.stderr.contains("panicked"), "{ran:?}");
    let report = ran.report();
    assert_eq!(report["errors"][0]["step"], "list", "{report:#}");
    let message = report["errors"][0]["message"].as_str().unwrap_or_default();
    for e in expected {
        assert!(message.contains(e), "{e:?} in {message:?}");
    }
    assert_eq!(report["totals"]["fetched"], 0);
    assert!(api.with_method("POST").is_empty(), "nothing retried");
}

#[test]
fn a_fetch_answered_with_html_fails_saying_json_was_expected() {
    let (api, ran) = fetch_gets(|| html(StatusCode::OK));
    assert_fetch_failed(
        &api,
        &ran,
        &["expected a JSON answer", "text/html", "<!doctype html>"],
    );
}

#[test]
fn a_fetch_answered_with_truncated_json_fails_saying_so() {
    let (api, ran) = fetch_gets(|| truncated(StatusCode::OK));
    assert_fetch_failed(
        &api,
        &ran,
        &["expected a JSON answer", "truncated or malformed JSON"],
    );
}

#[test]
fn a_fetch_answered_without_the_items_field_names_what_is_there() {
    let (api, ran) = fetch_gets(|| axum::Json(json!({"data": [], "count": 0})).into_response());
    assert_fetch_failed(
        &api,
        &ran,
        &["nothing at $.tasks", "data, count", "check `items:`"],
    );
}

#[test]
fn a_fetch_whose_items_are_not_a_list_says_what_it_got() {
    let (api, ran) = fetch_gets(|| axum::Json(json!({"tasks": "none"})).into_response());
    assert_fetch_failed(&api, &ran, &["expected an array at $.tasks", "a string"]);
}

#[test]
fn an_empty_list_is_not_an_error() {
    let (api, ran) = fetch_gets(|| axum::Json(json!({"tasks": []})).into_response());
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 0);
    assert!(api.with_method("POST").is_empty());
}

/// Retries of `ok1 bad ok2`, where `bad` is answered by `answer` and the others by 200 JSON.
fn retry_gets(answer: fn() -> Response) -> (FakeApi, Ran) {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(move |Path(id): Path<String>| async move {
            if id == "bad" {
                answer()
            } else {
                axum::Json(json!({"status": "queued"})).into_response()
            }
        }),
    ));
    let text = playbook(
        "  - fetch: {ids: ok1 bad ok2}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    (api, ran)
}

fn assert_only_bad_failed(api: &FakeApi, ran: &Ran, expected: &[&str]) {
    ran.expect_code(1);
    assert!(!ran.stderr.contains("panicked"), "{ran:?}");
    assert_eq!(ran.item("ok1")["outcome"], "retried");
    assert_eq!(ran.item("ok2")["outcome"], "retried");
    let bad = ran.item("bad");
    assert_eq!(bad["outcome"], "failed", "{bad:#}");
    let message = bad["message"].as_str().unwrap_or_default();
    for e in expected {
        assert!(message.contains(e), "{e:?} in {message:?}");
    }
    assert_eq!(api.with_method("POST").len(), 3, "each sent once");
}

#[test]
fn a_retry_answered_with_an_html_error_page_fails_that_item_only() {
    let (api, ran) = retry_gets(|| html(StatusCode::INTERNAL_SERVER_ERROR));
    assert_only_bad_failed(&api, &ran, &["HTTP 500", "text/html", "<!doctype html>"]);
}

/// Regression: a 200 HTML page (a sign-in page, a web app at a wrong base URL) counted as a retry
/// and the run exited 0; fixed in e5e6e30.
#[test]
fn a_retry_answered_with_html_and_200_fails_that_item_only() {
    let (api, ran) = retry_gets(|| html(StatusCode::OK));
    assert_only_bad_failed(&api, &ran, &["expected a JSON answer", "text/html"]);
}

/// Regression: a 200 with JSON that does not parse counted as a retry; fixed in e5e6e30.
#[test]
fn a_retry_answered_with_truncated_json_fails_that_item_only() {
    let (api, ran) = retry_gets(|| truncated(StatusCode::OK));
    assert_only_bad_failed(&api, &ran, &["truncated or malformed JSON"]);
}

#[test]
fn a_batch_answer_that_is_not_json_fails_the_items_of_that_batch_only() {
    // The batch holding `bad` is answered with a sign-in page; the other batch is fine.
    let api = FakeApi::start(Router::new().route(
        "/tasks/retry",
        post(
            |axum::Json(body): axum::Json<serde_json::Value>| async move {
                let ids: Vec<String> = body["ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect();
                if ids.iter().any(|i| i == "bad") {
                    html(StatusCode::OK)
                } else {
                    let results: Vec<_> = ids
                        .iter()
                        .map(|id| json!({"id": id, "code": "OK"}))
                        .collect();
                    axum::Json(json!({"results": results})).into_response()
                }
            },
        ),
    ));
    let text = playbook(
        "  - fetch: {ids: ok1 ok2 bad ok3}\n  - retry:\n      batch:\n        size: 2\n        request: {path: /tasks/retry, body: {ids: \"{{ ids }}\"}}\n      outcome:\n        items: {path: \"$.results[*]\", codes: {OK: retried}}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    assert_eq!(
        ran.outcomes(),
        crate::outcomes(&[
            ("ok1", "retried"),
            ("ok2", "retried"),
            ("bad", "failed"),
            ("ok3", "failed")
        ])
    );
    let message = ran.item("ok3")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("expected a JSON answer with per-item results at $.results[*]")
            && message.contains("text/html"),
        "{message}"
    );
}

#[test]
fn a_retry_answer_of_the_wrong_shape_fails_by_a_body_rule() {
    // The playbook says what a confirmed retry looks like; an answer without it fails the item.
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            if id == "bad" {
                axum::Json(json!({"unexpected": [1, 2]}))
            } else {
                axum::Json(json!({"status": "queued"}))
            }
        }),
    ));
    let text = playbook(
        "  - fetch: {ids: ok1 bad ok2}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n      outcome:\n        body:\n          - {when: \"@.status != 'queued'\", outcome: failed}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    assert_only_bad_failed(&api, &ran, &["unexpected"]);
}
