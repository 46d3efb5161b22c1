//! Deep Work's (PocketPaw's) documented answers, read by its adapter's default rules: the
//! ambiguous 500, the missing route, the declared cap.

use serde_json::json;

use super::{aborts, message_of, one, plan, retry_step, try_plan};
use crate::playbook::compile::StepKind;
use crate::report::ItemOutcome;

#[test]
fn deepwork_200_success_body_is_retried() {
    let body = r#"{"success": true, "task": {"id": "task-3", "title": "Implement user authentication", "status": "assigned", "retry_count": 2, "max_retries": 1, "error_message": null}, "progress": {"total": 8, "completed": 4, "in_progress": 1, "percent": 50}}"#;
    assert_eq!(one("deepwork", 200, body), (ItemOutcome::Retried, None));
}

#[test]
fn deepwork_400_not_blocked_is_skipped_with_the_detail() {
    let (outcome, message) = one(
        "deepwork",
        400,
        r#"{"detail": "Can only retry tasks with status 'blocked', got 'done'"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Skipped);
    assert!(message_of(&message).contains("got 'done'"), "{message:?}");
}

#[test]
fn deepwork_404_task_not_found_is_failed() {
    let (outcome, message) = one("deepwork", 404, r#"{"detail":"Task not found"}"#);
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(
        message_of(&message).contains("Task not found"),
        "{message:?}"
    );
}

#[test]
fn deepwork_400_other_project_is_failed() {
    let (outcome, message) = one(
        "deepwork",
        400,
        r#"{"detail":"Task does not belong to this project"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(
        message_of(&message).contains("does not belong to this project"),
        "{message:?}"
    );
}

#[test]
fn deepwork_401_aborts() {
    let reason = aborts("deepwork", 401, r#"{"detail":"Unauthorized"}"#);
    assert!(reason.contains("Unauthorized"), "{reason}");
}

/// PocketPaw saves the reset before it dispatches: its 500 is ambiguous, read back through the
/// task's `retry_count`; FastAPI's own 404 means the retry route is missing (0.4.4), the API's
/// "Task not found" does not; the list is declared capped at 100.
#[test]
fn deepwork_declares_its_ambiguous_500_missing_route_and_cap() {
    let plan = plan("deepwork");
    let retry = retry_step(&plan);
    assert_eq!(retry.outcome.ambiguous, [500]);
    assert_eq!(
        retry.counter.as_ref().map(|p| p.source()),
        Some("$.retry_count")
    );
    let [route] = retry.outcome.missing_route.as_slice() else {
        panic!("one missing-route rule");
    };
    assert_eq!(route.status, [404]);
    assert!(route.when.matches(&json!({"detail": "Not Found"})));
    assert!(!route.when.matches(&json!({"detail": "Task not found"})));
    assert!(route.hint.as_deref().is_some_and(|h| h.contains("0.4.4")));
    let cap = plan.steps.iter().find_map(|s| match &s.kind {
        StepKind::Fetch(f) => match &f.source {
            crate::playbook::compile::FetchSource::Http { cap, .. } => Some(*cap),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(cap, Some(Some(100)));
}

/// A playbook's own `outcome` keeps what the adapter knows of ambiguous and missing-route
/// answers unless it says otherwise; a fetch naming its own route takes no cap from the adapter.
#[test]
fn deepwork_playbook_outcome_keeps_the_adapters_ambiguous_and_missing_route() {
    let steps = "  - fetch: {request: {path: /elsewhere}}
  - filter: {}
  - retry: {outcome: {status: {409: skipped}}}
";
    let plan = try_plan("deepwork", "", steps).unwrap_or_else(|e| panic!("{e}"));
    let retry = retry_step(&plan);
    assert_eq!(retry.outcome.ambiguous, [500]);
    assert_eq!(retry.outcome.missing_route.len(), 1);
    let steps = "  - fetch: {}
  - filter: {}
  - retry: {outcome: {ambiguous: [], missing_route: []}}
";
    let plan = try_plan("deepwork", "", steps).unwrap_or_else(|e| panic!("{e}"));
    let retry = retry_step(&plan);
    assert!(retry.outcome.ambiguous.is_empty());
    assert!(retry.outcome.missing_route.is_empty());
    let plan = try_plan(
        "deepwork",
        "",
        "  - fetch: {request: {path: /elsewhere}}
  - filter: {}
  - retry: {}
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let caps: Vec<Option<u64>> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Fetch(f) => match &f.source {
                crate::playbook::compile::FetchSource::Http { cap, .. } => Some(*cap),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(caps, [None]);
}
