//! `--ledger :memory:` (SQLite's own name for a database in memory): a run with its ledger in
//! memory, for the benchmark that compares the ledger's cost with none. The run retries as any
//! other and writes no ledger file; nothing survives it, so it cannot be resumed.

use axum::Router;
use axum::routing::post;
use serde_json::json;

use crate::{FakeApi, Runbook, outcomes, playbook};

#[test]
fn a_run_with_its_ledger_in_memory_retries_and_leaves_no_ledger_file() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { axum::Json(json!({"ok": true})) }),
    ));
    let text = playbook(
        r#"  - fetch: {ids: "t1 t2 t3"}
  - retry:
      request: {path: "/tasks/{{ task.id }}/retry"}
      concurrency: 2
"#,
    );
    let run = Runbook::play(&text)
        .api(&api)
        .args(["--ledger", ":memory:"])
        .run();
    run.expect_code(0);
    assert_eq!(
        run.outcomes(),
        outcomes(&[("t1", "retried"), ("t2", "retried"), ("t3", "retried")])
    );
    assert_eq!(api.with_method("POST").len(), 3, "each sent once");
    assert!(!run.path(".runbook").exists(), "no default ledger was made");
    assert!(!run.path(":memory:").exists(), "no file named after it");
}
