//! The verify step against work that settles: the sandbox shows a retried task running for
//! `settle_reads` reads, then succeeded (or, for one in five, failed again). The report's
//! `recovered` / `still_failing` / `pending` outcomes and totals must match what the sandbox says
//! each task settled to, and exit 1 when something still fails.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Bench, head, ids_with, retry_requests, sandbox, split_eligible};

/// Retry every failed and timed-out task of the live listing, then verify.
fn playbook(verify: &str) -> String {
    format!(
        r#"{head}steps:
  - name: failed
    fetch:
      request:
        path: /tasks
        query: {{status: [failed, timed_out]}}
      items: $.tasks[*]
      paginate: {{cursor: {{param: cursor, next: $.next_cursor}}}}
  - name: retried
    retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
      concurrency: 8
  - verify:
      request: {{path: "/tasks/{{{{ task.id }}}}"}}
      success: [succeeded]
      failure: [failed]
      concurrency: 8
      {verify}
"#,
        head = head("verified")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_what_the_retried_work_settled_to() {
    let sandbox = sandbox(0, 2).await;
    let before = sandbox.tasks("http");
    let (eligible, _) = split_eligible(&before);
    let bench = Bench::at_sandbox(&sandbox);
    bench.write(
        "playbook.yaml",
        &playbook("every: 100ms\n      timeout: 5s"),
    );
    let out = bench
        .run(&["play", "playbook.yaml", "-o", "report.json"])
        .await;
    assert_eq!(retry_requests(&sandbox).len(), eligible.len());

    let settled: BTreeMap<String, String> = sandbox.settled("http").into_iter().collect();
    assert_eq!(
        settled.keys().cloned().collect::<Vec<_>>(),
        {
            let mut e = eligible.clone();
            e.sort();
            e
        },
        "every retried task was read until it settled"
    );
    // What the sandbox said beforehand each retry would settle to, and what it did.
    for task in &before {
        if let Some(id) = task["id"].as_str().filter(|id| settled.contains_key(*id)) {
            assert_eq!(task["sandbox_settles_to"], settled[id].as_str(), "{id}");
        }
    }
    let with = |status: &str| -> Vec<String> {
        settled
            .iter()
            .filter(|(_, s)| s.as_str() == status)
            .map(|(id, _)| id.clone())
            .collect()
    };
    let (succeeded, failed) = (with("succeeded"), with("failed"));
    assert_eq!(succeeded.len() + failed.len(), eligible.len());
    assert!(
        !failed.is_empty() && !succeeded.is_empty(),
        "seed 7 settles both ways"
    );

    let report = bench.json("report.json");
    assert_eq!(ids_with(&report, "recovered"), succeeded, "{report:#}");
    assert_eq!(ids_with(&report, "still_failing"), failed, "{report:#}");
    assert!(ids_with(&report, "pending").is_empty());
    let totals = &report["totals"];
    assert_eq!(totals["recovered"], succeeded.len());
    assert_eq!(totals["still_failing"], failed.len());
    assert_eq!(totals["pending"], 0);
    out.expect_code(1);
    assert_eq!(report["aborted"], Value::Null);
    for item in report["items"].as_array().expect("items") {
        if item["outcome"] == "still_failing" {
            let message = item["message"].as_str().unwrap_or_default();
            assert!(message.contains("failed again"), "{item}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_pending_work_that_has_not_settled_by_the_timeout() {
    // Work that stays running for a thousand reads.
    let sandbox = sandbox(0, 1000).await;
    let (eligible, _) = split_eligible(&sandbox.tasks("http"));
    let bench = Bench::at_sandbox(&sandbox);
    bench.write(
        "playbook.yaml",
        &playbook("every: 50ms\n      timeout: 200ms"),
    );
    let out = bench
        .run(&["play", "playbook.yaml", "-o", "report.json"])
        .await;
    out.expect_code(0);
    assert!(sandbox.settled("http").is_empty());
    let report = bench.json("report.json");
    let mut sorted = eligible.clone();
    sorted.sort();
    assert_eq!(ids_with(&report, "pending"), sorted, "{report:#}");
    assert_eq!(report["totals"]["pending"], eligible.len());
    assert_eq!(report["totals"]["recovered"], 0);
    assert_eq!(report["totals"]["still_failing"], 0);
    for item in report["items"].as_array().expect("items") {
        let message = item["message"].as_str().unwrap_or_default();
        // Regression: the timeout was cut to whole seconds here ("not settled after 0s").
        assert!(
            message.contains("not settled after 200ms: last status running"),
            "{item}"
        );
    }
}
