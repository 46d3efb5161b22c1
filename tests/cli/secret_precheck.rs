//! The secret pre-check: before anything is sent, every `secret('NAME')` that a template of the
//! playbook calls must be set. It reads the compiled templates, not the playbook's text, so a
//! `secret(` in a YAML comment, in plain text or in a template's own comment is not demanded.

use axum::Router;
use axum::routing::get;
use serde_json::json;

use crate::{FakeApi, Runbook};

/// A listing of no tasks: a run that gets past the pre-check sends one read and ends.
fn empty_listing() -> FakeApi {
    FakeApi::start(
        Router::new().route("/tasks", get(|| async { axum::Json(json!({"tasks": []})) })),
    )
}

fn playbook(extra_header: &str) -> String {
    format!(
        "# a note on secret('IN_A_YAML_COMMENT')\nname: precheck\ndescription: \"rotate secret('IN_PLAIN_TEXT') monthly\"\nprovider: http\nconnection:\n  base_url: \"{{{{ env('API_URL') }}}}\"\n  headers:\n    X-Note: \"{{# secret('IN_A_TEMPLATE_COMMENT') #}}note\"\n{extra_header}steps:\n  - fetch:\n      request: {{path: /tasks}}\n      items: $.tasks[*]\n"
    )
}

/// Regression: the pre-check scanned the raw text and refused a run over a `secret(` in a comment.
#[test]
fn a_secret_named_outside_any_template_is_not_demanded() {
    let api = empty_listing();
    let ran = Runbook::play(&playbook("")).api(&api).run();
    ran.expect_code(0);
    assert!(!ran.stderr.contains("is not set"), "{ran:?}");
    assert_eq!(api.requests().len(), 1, "the listing was read");
}

#[test]
fn a_secret_a_template_calls_is_demanded_before_anything_is_sent() {
    let api = empty_listing();
    let header = "    Authorization: \"Bearer {{ secret('API_TOKEN') }}\"\n";
    let ran = Runbook::play(&playbook(header)).api(&api).run();
    ran.expect_code(2);
    assert!(
        ran.stderr
            .contains("secret API_TOKEN is not set (the playbook uses secret('API_TOKEN'))"),
        "{ran:?}"
    );
    assert!(!ran.stderr.contains("IN_A_"), "{ran:?}");
    assert!(api.requests().is_empty(), "nothing was sent");
    let ran = Runbook::play(&playbook(header))
        .api(&api)
        .env("API_TOKEN", "tok-1")
        .run();
    ran.expect_code(0);
}
