//! What the real PocketPaw server (0.4.18, and 0.4.4 for the missing route) showed, issue 13
//! points 4 to 7, played against the sandbox's Deep Work as it now behaves:
//! - the task list and its `count` stop at 100, so an answer of 100 is reported as possibly
//!   truncated; the shipped playbook lists each project's tasks instead and sees them all;
//! - a retry answered 500 after the reset was saved counts as retried once its `retry_count` is
//!   read, and is never sent twice;
//! - a server without the retry route answers FastAPI's own 404: the run stops, naming the route.

use std::collections::BTreeSet;

use crate::{Ran, Runbook, repo_path};

use super::{
    assert_clean_exchanges, assert_each_sent_once, at_sandbox, clean, count_sent, ids_where, run,
    shipped, start, task, within_days,
};

/// The sandbox's blocked Deep Work tasks created within the last 7 days.
fn recent_blocked(tasks: &[serde_json::Value]) -> BTreeSet<String> {
    let now = jiff::Timestamp::now();
    ids_where(tasks, "id", |t| {
        t["status"] == "blocked"
            && !t["project_id"].is_null()
            && within_days(&t["created_at"], 7, now)
    })
}

fn retry_posts(sandbox: &runbook::sandbox::Sandbox) -> Vec<runbook::sandbox::RecordedRequest> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/retry"))
        .collect()
}

fn task_id_of(r: &runbook::sandbox::RecordedRequest) -> Option<Vec<String>> {
    r.path.split('/').nth(6).map(|id| vec![id.to_string()])
}

/// The shipped playbook with `from` replaced by `to` (it must be there).
fn shipped_with(from: &str, to: &str) -> Runbook {
    let text = std::fs::read_to_string(repo_path("playbooks/deepwork-blocked.yaml"))
        .expect("the shipped playbook");
    assert!(text.contains(from), "the playbook has {from:?}");
    Runbook::play(&text.replace(from, to))
}

/// The adapter's own listing (`GET /api/mission-control/tasks?status=blocked&limit=100`) with
/// 102 blocked tasks at the server: 100 come back with `count: 100`, which the `total` guard
/// cannot see through. The adapter's `cap: 100` reports it: a warning, an error in the report,
/// exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_at_pocketpaws_cap_is_reported_possibly_truncated() {
    let sandbox = start(clean()).await;
    sandbox.add_deepwork_blocked_tasks(94);
    let text = "name: flat\nprovider: deepwork\nsteps:\n  - name: blocked\n    fetch: {}\n  - filter: {status_in: [blocked]}\n  - retry: {}\n";
    let ran = run(at_sandbox(
        Runbook::play(text).arg("--dry-run"),
        &sandbox,
        "DEEPWORK_BASE_URL",
        "deepwork",
        &["DEEPWORK_TOKEN"],
    ))
    .await;
    ran.expect_code(1);
    assert_eq!(ran.total("fetched"), 100);
    let report = ran.report();
    let errors = report["errors"].as_array().expect("errors is an array");
    assert_eq!(errors.len(), 1, "{report:#}");
    assert_eq!(errors[0]["step"], "blocked");
    let message = errors[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("possibly truncated: GET http://127.0.0.1:")
            && message.contains("/api/mission-control/tasks?limit=100&status=blocked returned 100 items, the most this API returns in one answer (cap: 100)")
            && message.ends_with("Narrow the listing (a narrower query, or `each:` to list per project) until no answer holds 100 items"),
        "{message}"
    );
    assert!(
        ran.stderr
            .contains(&format!("warning: step blocked: {message}")),
        "{ran:?}"
    );
    sandbox.shutdown().await;
}

/// The shipped playbook narrows the listing: the projects, then each project's tasks, which are
/// not capped. With the same 102 blocked tasks it sees every one, warns of nothing and exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_playbook_lists_each_project_and_sees_every_blocked_task() {
    let sandbox = start(clean()).await;
    let added = sandbox.add_deepwork_blocked_tasks(94);
    let tasks = sandbox.tasks("deepwork");
    let eligible = recent_blocked(&tasks);
    assert_eq!(eligible.len(), 5 + added.len());
    let ran = run(at_sandbox(
        shipped("deepwork-blocked").args(["--dry-run", "--var", "limit=500"]),
        &sandbox,
        "DEEPWORK_BASE_URL",
        "deepwork",
        &["DEEPWORK_TOKEN"],
    ))
    .await;
    ran.expect_code(0);
    assert!(!ran.stderr.contains("truncated"), "{ran:?}");
    assert_eq!(ran.report()["errors"], serde_json::json!([]));
    assert_eq!(ran.total("fetched"), tasks.len() as u64);
    assert_eq!(ran.total("planned"), eligible.len() as u64);
    let requests = assert_clean_exchanges(&sandbox, "deepwork", false);
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/mission-control/projects",
            "/api/mission-control/projects/proj-alpha",
            "/api/mission-control/projects/proj-beta",
            "/api/mission-control/projects/proj-gamma",
        ]
    );
    sandbox.shutdown().await;
}

/// Every retry is answered `500 "Retry dispatch failed"` after the reset was saved. The run reads
/// each task again, finds its `retry_count` one higher and reports it retried; nothing is sent
/// twice (a resend would get 400 "got 'assigned'" and be reported skipped), and no request meets
/// PocketPaw's limiter.
#[tokio::test(flavor = "multi_thread")]
async fn a_500_after_the_reset_is_checked_and_counts_as_retried_once() {
    let sandbox = start(clean()).await;
    sandbox.set_deepwork_dispatch_failures(1.0);
    let before = sandbox.tasks("deepwork");
    let eligible = recent_blocked(&before);
    let ran = run(at_sandbox(
        shipped("deepwork-blocked"),
        &sandbox,
        "DEEPWORK_BASE_URL",
        "deepwork",
        &["DEEPWORK_TOKEN"],
    ))
    .await;
    ran.expect_code(0);
    let requests = assert_clean_exchanges(&sandbox, "deepwork", false);
    assert!(requests.iter().all(|r| r.status != 429), "paced under 10/s");
    let posts = retry_posts(&sandbox);
    assert!(posts.iter().all(|r| r.status == 500), "{posts:#?}");
    assert_each_sent_once(&count_sent(&posts, task_id_of), &eligible);
    let after = sandbox.tasks("deepwork");
    for id in &eligible {
        let (old, new) = (task(&before, "id", id), task(&after, "id", id));
        assert_eq!(
            new["retry_count"].as_u64(),
            old["retry_count"].as_u64().map(|n| n + 1)
        );
        let item = ran.item(id);
        assert_eq!(item["outcome"], "retried", "{item:#}");
        let message = item["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("HTTP 500: Retry dispatch failed")
                && message.contains("$.retry_count 2 (was 1), so it was carried out"),
            "{message}"
        );
    }
    assert_eq!(ran.total("retried"), eligible.len() as u64);
    sandbox.shutdown().await;
}

/// `on_ambiguous: give_up` in the playbook: the same 500s are reported `unknown` (exit 1), and
/// still sent once each.
#[tokio::test(flavor = "multi_thread")]
async fn a_500_after_the_reset_given_up_is_unknown() {
    let sandbox = start(clean()).await;
    sandbox.set_deepwork_dispatch_failures(1.0);
    let eligible = recent_blocked(&sandbox.tasks("deepwork"));
    let ran = run(at_sandbox(
        shipped_with("on_ambiguous: check", "on_ambiguous: give_up"),
        &sandbox,
        "DEEPWORK_BASE_URL",
        "deepwork",
        &["DEEPWORK_TOKEN"],
    ))
    .await;
    ran.expect_code(1);
    assert_each_sent_once(&count_sent(&retry_posts(&sandbox), task_id_of), &eligible);
    let unknown: BTreeSet<String> = ran
        .outcomes()
        .into_iter()
        .filter(|(_, o)| o == "unknown")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(unknown, eligible);
    sandbox.shutdown().await;
}

/// A PocketPaw without the retry route (0.4.4) answers FastAPI's `404 {"detail": "Not Found"}`.
/// The first such answer stops the run (exit 3) with a message naming the route and the release
/// that has it; no other retry is sent, and no task is reported as unknown to the server.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_retry_route_aborts_naming_the_route() {
    let sandbox = start(clean()).await;
    sandbox.set_deepwork_retry_route(false);
    let ran: Ran = run(at_sandbox(
        shipped("deepwork-blocked"),
        &sandbox,
        "DEEPWORK_BASE_URL",
        "deepwork",
        &["DEEPWORK_TOKEN"],
    ))
    .await;
    ran.expect_code(3);
    let posts = retry_posts(&sandbox);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let route = &posts[0].path;
    let aborted = ran.report()["aborted"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        aborted,
        format!(
            "step retried: the server has no route POST /deepwork{route} (HTTP 404 {{\"detail\":\"Not Found\"}}): every retry would get the same answer, so none was sent after it. PocketPaw has the Deep Work retry route from the release after 0.4.4 on (0.4.18 is known to work): upgrade the server, or check DEEPWORK_BASE_URL."
        )
    );
    assert!(
        ran.stderr.contains(&aborted["step retried: ".len()..]),
        "{ran:?}"
    );
    assert!(
        !ran.report().to_string().contains("Task not found"),
        "no task was called unknown"
    );
    sandbox.shutdown().await;
}
