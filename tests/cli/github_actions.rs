//! GitHub Actions: the Markdown report appended to `$GITHUB_STEP_SUMMARY` (and `--no-step-summary`
//! turning that off), and `::error` annotations on stdout when `GITHUB_ACTIONS=true`, escaped so
//! that a provider's message cannot forge a workflow command, with secrets redacted.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::json;

use crate::{FakeApi, Runbook};

const TOKEN: &str = "tok-7c1f0e9a4b2d";

/// Retries of `ok*` succeed; the others are refused with a message that echoes the token, holds a
/// `%` and tries to start a workflow command of its own on a new line.
fn api() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            if id.starts_with("ok") {
                return StatusCode::OK.into_response();
            }
            let message = format!("quota 100% used by {TOKEN}\n::warning::forged");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({ "message": message })),
            )
                .into_response()
        }),
    ))
}

const PLAYBOOK: &str = r#"name: nightly
provider: http
connection:
  base_url: "{{ env('API_URL') }}"
  headers:
    authorization: "Bearer {{ secret('API_TOKEN') }}"
steps:
  - fetch: {ids: "ok1 bad:1"}
  - name: resend
    retry:
      request: {path: "/tasks/{{ task.id | urlencode }}/retry"}
  - report:
      title: "Nightly recovery"
"#;

fn run(api: &FakeApi, extra: &[(&str, &str)], args: &[&str]) -> crate::Ran {
    let mut runbook = Runbook::play(PLAYBOOK)
        .api(api)
        .env("API_TOKEN", TOKEN)
        .file("summary.md", "## from an earlier step\n")
        .args(args.iter().copied());
    for (k, v) in extra {
        runbook = runbook.env(k, v);
    }
    runbook.run()
}

#[test]
fn the_markdown_report_is_appended_to_the_step_summary() {
    let api = api();
    let ran = run(&api, &[("GITHUB_STEP_SUMMARY", "summary.md")], &[]);
    ran.expect_code(1);
    let summary = std::fs::read_to_string(ran.path("summary.md")).expect("the summary");
    assert!(
        summary.starts_with("## from an earlier step\n\n## Nightly recovery\n"),
        "appended after what was there, under the report step's title:\n{summary}"
    );
    assert!(summary.contains("### Failed (1)"), "{summary}");
    assert!(
        !summary.contains(TOKEN),
        "the token is redacted:\n{summary}"
    );
    assert!(
        !ran.stdout.contains("::error"),
        "no annotations outside GitHub Actions:\n{}",
        ran.stdout
    );
}

#[test]
fn no_step_summary_leaves_the_summary_file_alone() {
    let api = api();
    let ran = run(
        &api,
        &[("GITHUB_STEP_SUMMARY", "summary.md")],
        &["--no-step-summary"],
    );
    ran.expect_code(1);
    let summary = std::fs::read_to_string(ran.path("summary.md")).expect("the summary");
    assert_eq!(summary, "## from an earlier step\n");
}

#[test]
fn failed_items_become_escaped_redacted_error_annotations() {
    let api = api();
    let ran = run(&api, &[("GITHUB_ACTIONS", "true")], &[]);
    ran.expect_code(1);
    let commands: Vec<&str> = ran.stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(
        commands.len(),
        1,
        "one annotation, none forged:\n{}",
        ran.stdout
    );
    let line = commands[0];
    let (head, message) = line
        .strip_prefix("::error title=")
        .and_then(|rest| rest.split_once("::"))
        .unwrap_or_else(|| panic!("an ::error command: {line}"));
    assert_eq!(
        head, "runbook nightly / resend%3A failed bad%3A1",
        "`:` escaped in the title"
    );
    assert!(
        message.starts_with("item bad:1 is failed: HTTP 422: quota 100%25 used by ")
            && message.ends_with("%0A::warning::forged"),
        "`%` and the newline escaped: {message}"
    );
    assert!(!ran.stdout.contains(TOKEN), "the token is redacted");
    assert!(!ran.stderr.contains(TOKEN), "the token is redacted");
}
