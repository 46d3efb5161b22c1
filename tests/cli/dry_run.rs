//! `--dry-run`: the reads happen, nothing that changes anything is sent, and each item is reported
//! as `planned` with the request that would have been sent, secrets redacted.

use axum::Router;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook};

const SECRET: &str = "s3cret-Value-42";

#[test]
fn dry_run_reads_plans_and_sends_no_retry() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    axum::Json(json!({"tasks": [
                        {"id": "a", "status": "failed", "name": "first"},
                        {"id": "b", "status": "failed", "name": "second"},
                    ]}))
                }),
            )
            .route("/tasks/{id}/retry", post(|| async { "must not be called" })),
    );
    let text = r#"name: dry
provider: http
connection:
  base_url: "{{ env('API_URL') }}"
  headers:
    Authorization: "Bearer {{ secret('API_TOKEN') }}"
task:
  label: $.name
steps:
  - fetch:
      request: {path: /tasks}
      items: $.tasks[*]
  - retry:
      request:
        method: PUT
        path: "/tasks/{{ task.id }}/retry?key={{ secret('API_TOKEN') }}"
        body: {token: "{{ secret('API_TOKEN') }}", task: "{{ task.id }}", note: "by {{ task.label }}"}
"#;
    let ran = Runbook::play(text)
        .api(&api)
        .env("API_TOKEN", SECRET)
        .arg("--dry-run")
        .run();
    ran.expect_code(0);

    let gets = api.with_method("GET");
    assert_eq!(gets.len(), 1, "the read happens");
    assert_eq!(
        gets[0].header("authorization"),
        Some(format!("Bearer {SECRET}").as_str()),
        "with the real credentials"
    );
    assert_eq!(api.requests().len(), 1, "and nothing else reaches the API");

    let report = ran.report();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["totals"]["planned"], 2);
    assert_eq!(report["totals"]["retried"], 0);
    let a = ran.item("a");
    assert_eq!(a["outcome"], "planned");
    assert_eq!(a["request"]["method"], "PUT");
    let url = a["request"]["url"].as_str().unwrap_or_default();
    assert!(url.starts_with(&api.url()), "{url}");
    assert!(url.contains("/tasks/a/retry?key=<redacted>"), "{url}");
    assert_eq!(
        a["request"]["body"],
        json!({"token": "<redacted>", "task": "a", "note": "by first"})
    );

    let written = std::fs::read_to_string(ran.path("report.json")).expect("the report");
    for (what, text) in [
        ("report", written.as_str()),
        ("stdout", &ran.stdout),
        ("stderr", &ran.stderr),
    ] {
        assert!(
            !text.contains(SECRET),
            "the secret leaked into {what}:\n{text}"
        );
    }
    assert!(
        ran.stdout.contains("planned"),
        "the summary lists the plan:\n{ran:?}"
    );
}

#[test]
fn dry_run_plans_one_request_per_batch() {
    let api = FakeApi::start(Router::new().route("/tasks/retry", post(|| async { "never" })));
    let text = crate::playbook(
        "  - fetch: {ids: \"a b c d e\"}\n  - retry:\n      batch:\n        size: 2\n        request: {path: /tasks/retry, body: {ids: \"{{ ids }}\"}}\n",
    );
    let ran = Runbook::play(&text).api(&api).arg("--dry-run").run();
    ran.expect_code(0);
    assert!(api.requests().is_empty(), "nothing sent");
    assert_eq!(ran.total("planned"), 5);
    let body = |id: &str| ran.item(id)["request"]["body"].clone();
    assert_eq!(body("a"), json!({"ids": ["a", "b"]}));
    assert_eq!(body("b"), json!({"ids": ["a", "b"]}));
    assert_eq!(body("c"), json!({"ids": ["c", "d"]}));
    assert_eq!(body("e"), json!({"ids": ["e"]}));
}
