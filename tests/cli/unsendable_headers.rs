//! A header HTTP cannot carry (a CR or LF in its value, issue 7 case 7) is a local error: the
//! request can never be sent, so it fails at once, naming the header and never its value, instead
//! of being retried; one in the connection's settings stops the run before its first request
//! (exit 2), and `validate` finds it when it is the playbook's own constant text.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;

use crate::{FakeApi, Runbook, playbook};

#[test]
fn a_header_with_a_line_break_fails_its_item_at_once_and_is_never_sent() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { StatusCode::NO_CONTENT }),
    ));
    let text = playbook(
        "  - fetch: {file: tasks.json}\n  - retry:\n      request:\n        path: \"/tasks/{{ task.id | urlencode }}/retry\"\n        headers: {X-Trace: \"{{ item.trace }}\"}\n",
    );
    let tasks = r#"[{"id": "bad", "trace": "x\r\nX-Injected: 1"}, {"id": "good", "trace": "ok"}]"#;
    let ran = Runbook::play(&text)
        .api(&api)
        .file("tasks.json", tasks)
        .run();
    ran.expect_code(1);
    let paths: Vec<String> = api.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, vec!["/tasks/good/retry".to_string()]);
    let bad = ran.item("bad");
    assert_eq!(bad["outcome"], "failed");
    assert_eq!(bad["attempts"], 0, "never sent, never retried: {bad}");
    assert_eq!(
        bad["message"],
        "the header X-Trace cannot be sent: its value holds a line break or another control character HTTP forbids; check the value it is built from"
    );
    assert_eq!(ran.item("good")["outcome"], "retried");
}

#[test]
fn a_connection_header_from_a_secret_with_a_line_break_stops_the_run_before_any_request() {
    let api = FakeApi::start(Router::new().fallback(|| async { StatusCode::NO_CONTENT }));
    let text = playbook(
        "  - fetch: {ids: \"t1\"}\n  - retry:\n      request: {path: \"/tasks/{{ task.id | urlencode }}/retry\"}\n",
    )
    .replace(
        "  backoff:",
        "  headers:\n    X-Key: \"{{ secret('KEY') }}\"\n  backoff:",
    );
    let ran = Runbook::play(&text)
        .api(&api)
        .env("KEY", "key-0123456789\r\nX-Injected: 1")
        .run();
    ran.expect_code(2);
    assert!(api.requests().is_empty(), "nothing was sent");
    assert_eq!(
        ran.stderr,
        "error: connection.headers.X-Key: the header X-Key cannot be sent: its value holds a line break or another control character HTTP forbids; check the value it is built from\n"
    );
}

#[test]
fn validate_refuses_a_constant_connection_header_with_a_line_break_at_its_place() {
    let text = playbook("  - fetch: {ids: \"t1\"}\n").replace(
        "  backoff:",
        "  headers:\n    X-Team: \"ops\\r\\nX-Injected: 1\"\n  backoff:",
    );
    let ran = Runbook::validate(&text).run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        concat!(
            "error: connection.headers.X-Team: the header X-Team cannot be sent: its value holds a line break or another control character HTTP forbids; check the value it is built from\n",
            " --> playbook.yaml:6:13\n",
            "  |\n",
            "6 |     X-Team: \"ops\\r\\nX-Injected: 1\"\n",
            "  |             ^^^^^^^^^^^^^^^^^^^^^^\n",
            "  = help: write the value on one line, without control characters\n",
        )
    );
}
