//! Batch retries: several ids per request, and a 200 answer whose per-item results decide each
//! item's outcome. Against a fake batch API, and against the sandbox's `/http/tasks/retry`.

use std::collections::BTreeSet;

use axum::Router;
use axum::routing::post;
use runbook::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::{FakeApi, Runbook, outcomes, playbook, runtime};

/// Per-item result of the fake batch API, by the id's first letter: `r` OK, `s` NOT_RETRYABLE,
/// `f` NOT_FOUND, `u` left out of the answer.
fn result_for(id: &str) -> Option<Value> {
    let (code, message) = match id.chars().next() {
        Some('r') => ("OK", "queued"),
        Some('s') => ("NOT_RETRYABLE", "task is running"),
        Some('f') => ("NOT_FOUND", "no such task"),
        _ => return None,
    };
    Some(json!({"task": id, "code": code, "detail": message}))
}

#[test]
fn per_item_codes_in_a_200_decide_each_outcome() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/retry",
        post(|axum::Json(body): axum::Json<Value>| async move {
            let ids = body["ids"].as_array().cloned().unwrap_or_default();
            let results: Vec<Value> = ids
                .iter()
                .filter_map(|id| id.as_str().and_then(result_for))
                .collect();
            axum::Json(json!({"data": {"results": results}}))
        }),
    ));
    let text = playbook(
        r#"  - fetch: {ids: "r1 r2 s1 f1 r3 u1 s2"}
  - retry:
      batch:
        size: 3
        request:
          path: /tasks/retry
          body: {ids: "{{ ids }}", reason: nightly}
      outcome:
        items:
          path: $.data.results[*]
          id: $.task
          message: $.detail
          codes: {OK: retried, NOT_RETRYABLE: skipped}
"#,
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    assert_eq!(
        ran.outcomes(),
        outcomes(&[
            ("r1", "retried"),
            ("r2", "retried"),
            ("r3", "retried"),
            ("u1", "retried"),
            ("s1", "skipped"),
            ("s2", "skipped"),
            ("f1", "failed"),
        ]),
        "OK → retried, NOT_RETRYABLE → skipped, other codes → failed, unlisted → retried"
    );
    let message = ran.item("f1")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("NOT_FOUND") && message.contains("no such task"),
        "{message}"
    );
    let skipped = ran.item("s1")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(skipped.contains("task is running"), "{skipped}");

    let posts = api.with_method("POST");
    assert_eq!(posts.len(), 3, "7 ids in batches of 3");
    let mut sent = Vec::new();
    for post in &posts {
        let body = post.json();
        let ids = body["ids"]
            .as_array()
            .expect("ids is a JSON array, not text");
        assert!(ids.len() <= 3, "a batch holds at most 3 ids: {body}");
        assert_eq!(body["reason"], "nightly");
        sent.extend(
            ids.iter()
                .map(|i| i.as_str().unwrap_or_default().to_string()),
        );
    }
    sent.sort();
    assert_eq!(
        sent,
        ["f1", "r1", "r2", "r3", "s1", "s2", "u1"],
        "each id sent once"
    );
}

#[test]
fn batch_retry_against_the_sandbox_task_api() {
    let sandbox = runtime()
        .block_on(Sandbox::start(SandboxConfig::default()))
        .expect("the sandbox starts");
    let base = sandbox.base_url("http").expect("the sandbox serves /http");
    let (token_var, token) = sandbox
        .credentials()
        .into_iter()
        .find(|(k, _)| k == "TASKS_API_TOKEN")
        .expect("the sandbox has a token");
    let text = r#"name: sandbox-batch
provider: http
connection:
  base_url: "{{ env('API_URL') }}"
  headers:
    Authorization: "Bearer {{ secret('TASKS_API_TOKEN') }}"
steps:
  - fetch:
      request:
        path: /tasks
        query: {status: [failed, timed_out, canceled], limit: 100}
      items: $.tasks[*]
      paginate:
        cursor: {next: $.next_cursor}
  - retry:
      batch:
        size: 10
        request:
          path: /tasks/retry
          body: {ids: "{{ ids }}"}
      outcome:
        items:
          path: $.results[*]
          codes: {NOT_RETRYABLE: skipped, NOT_FOUND: failed}
"#;
    let ran = Runbook::play(text)
        .env("API_URL", &base)
        .env(&token_var, &token)
        .run();
    ran.expect_code(0);
    // The sandbox's seeded tasks: 24 failed and 6 timed_out (retryable), 6 canceled (not).
    assert_eq!(ran.total("fetched"), 36);
    assert_eq!(ran.total("retried"), 30);
    assert_eq!(ran.total("skipped"), 6);
    let batches: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(batches.len(), 4, "36 ids in batches of at most 10");
    let mut sent = BTreeSet::new();
    for b in &batches {
        assert_eq!(b.path, "/tasks/retry");
        let body: Value = serde_json::from_str(&b.body).expect("a JSON body");
        let ids = body["ids"].as_array().expect("an array of ids");
        assert!(ids.len() <= 10);
        for id in ids {
            assert!(sent.insert(id.to_string()), "{id} sent twice");
        }
    }
    let queued = sandbox
        .tasks("http")
        .iter()
        .filter(|t| t["status"] == "queued")
        .count();
    assert_eq!(queued, 30, "the sandbox queued every retryable task");
    runtime().block_on(sandbox.shutdown());
}
