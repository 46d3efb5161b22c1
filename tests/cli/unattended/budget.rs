//! Retry budgets across runs: a task retried `max` times within `per` is reported `chronic` by the
//! next run and nothing is sent for it; a task under its budget still is.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::{get, post};
use serde_json::json;

use super::{Bench, head, ids_with, serve};

#[tokio::test(flavor = "multi_thread")]
async fn a_task_over_its_budget_is_chronic_and_not_sent() {
    // A task API whose work never recovers: every task stays failed, every retry is accepted. The
    // second listing has one more task.
    let listings = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            "/tasks",
            get(move || {
                let n = listings.fetch_add(1, Ordering::SeqCst);
                let mut tasks = vec![
                    json!({"id": "t-1", "status": "failed"}),
                    json!({"id": "t-2", "status": "failed"}),
                ];
                if n > 0 {
                    tasks.push(json!({"id": "t-3", "status": "failed"}));
                }
                async move { axum::Json(json!({"tasks": tasks})) }
            }),
        )
        .route(
            "/tasks/{id}/retry",
            post(|| async { axum::Json(json!({})) }),
        );
    let (url, journal) = serve(router).await;
    let bench = Bench::new()
        .env("API_URL", &url)
        .env("TASKS_API_TOKEN", "t");
    let text = format!(
        r#"{head}steps:
  - fetch:
      request: {{path: /tasks}}
      items: $.tasks[*]
  - filter: {{status_in: [failed]}}
  - retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
      budget: {{max: 1, per: 7d}}
"#,
        head = head("budget")
    );
    bench.write("playbook.yaml", &text);
    let posts = || -> Vec<String> {
        journal
            .all()
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.path)
            .collect()
    };

    let first = bench
        .run(&["play", "playbook.yaml", "-o", "first.json"])
        .await;
    first.expect_code(0);
    assert_eq!(posts(), ["/tasks/t-1/retry", "/tasks/t-2/retry"]);
    assert_eq!(
        ids_with(&bench.json("first.json"), "retried"),
        ["t-1", "t-2"]
    );

    let second = bench
        .run(&["play", "playbook.yaml", "-o", "second.json"])
        .await;
    second.expect_code(0);
    assert_eq!(
        posts(),
        ["/tasks/t-1/retry", "/tasks/t-2/retry", "/tasks/t-3/retry"],
        "only the task under its budget is sent"
    );
    let report = bench.json("second.json");
    assert_eq!(ids_with(&report, "chronic"), ["t-1", "t-2"], "{report:#}");
    assert_eq!(ids_with(&report, "retried"), ["t-3"]);
    assert_eq!(report["totals"]["chronic"], 2);
    let t1 = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == "t-1")
        .cloned()
        .unwrap_or_default();
    let message = t1["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("retried 1 times") && message.contains("budget 1"),
        "{t1}"
    );
    assert!(second.stdout.contains("chronic"), "{second:?}");
}
