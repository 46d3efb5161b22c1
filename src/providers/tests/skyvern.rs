//! Skyvern's documented answers, read by its adapter's default rules, and its newest-first listing.

use serde_json::Value;

use super::{aborts, message_of, one, plan, retry_step, try_plan};
use crate::playbook::compile::StepKind;
use crate::report::ItemOutcome;

#[test]
fn skyvern_200_new_run_is_retried_with_its_new_id() {
    let body = r#"{"run_id": "wr_486305187432193510", "status": "created", "created_at": "2025-01-01T00:00:00Z", "modified_at": "2025-01-01T00:00:00Z", "run_type": "workflow_run", "output": null, "failure_reason": null, "run_request": {"workflow_id": "wpid_123", "parameters": {}}}"#;
    assert_eq!(one("skyvern", 200, body), (ItemOutcome::Retried, None));
    let plan = plan("skyvern");
    let new_id = retry_step(&plan).new_id.as_ref().expect("a new_id path");
    let json: Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(
        new_id.first_text(&json).as_deref(),
        Some("wr_486305187432193510")
    );
}

#[test]
fn skyvern_400_not_terminal_is_skipped() {
    let (outcome, message) = one(
        "skyvern",
        400,
        r#"{"detail":"Only terminal workflow runs can be retried"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Skipped);
    assert!(
        message_of(&message).contains("Only terminal"),
        "{message:?}"
    );
}

#[test]
fn skyvern_other_400_is_failed() {
    let (outcome, _) = one(
        "skyvern",
        400,
        r#"{"detail":"Block-scoped workflow runs cannot be retried with this endpoint"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
}

#[test]
fn skyvern_404_is_failed() {
    let (outcome, message) = one(
        "skyvern",
        404,
        r#"{"detail":"Workflow run not found wr_123"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(message_of(&message).contains("not found"), "{message:?}");
}

#[test]
fn skyvern_403_invalid_credentials_aborts() {
    let reason = aborts("skyvern", 403, r#"{"detail":"Invalid credentials"}"#);
    assert!(reason.contains("Invalid credentials"), "{reason}");
}

/// Skyvern lists runs newest first with no date filter: its adapter says so, and paging stops at the
/// reading filter's `since`, unless that filter looks at another time of its own.
#[test]
fn skyvern_listing_is_newest_first_and_stops_at_the_filters_since() {
    use crate::playbook::compile::FetchSource;
    let stop_before = |steps: &str| {
        let plan = try_plan("skyvern", "", steps).expect("a plan");
        let StepKind::Fetch(fetch) = &plan.steps[0].kind else {
            panic!("a fetch first")
        };
        let FetchSource::Http {
            paginate: Some(p), ..
        } = &fetch.source
        else {
            panic!("a paged listing")
        };
        assert_eq!(
            p.newest_first.as_ref().map(|t| t.source().to_string()),
            Some("$.created_at".to_string())
        );
        p.stop_before.map(|s| s.0)
    };
    assert_eq!(
        stop_before("  - fetch: {}\n  - filter: {since: 3d}\n  - retry: {}\n"),
        Some(std::time::Duration::from_secs(3 * 24 * 3600))
    );
    assert_eq!(
        stop_before("  - fetch: {}\n  - filter: {since: 3d, time: \"{{ item.modified_at }}\"}\n"),
        None
    );
    assert_eq!(
        stop_before("  - fetch: {stop_before: 1d}\n  - filter: {since: 3d}\n"),
        Some(std::time::Duration::from_secs(24 * 3600)),
        "the fetch's own stop_before wins"
    );
    assert_eq!(
        stop_before(
            "  - name: all\n    fetch: {}\n  - filter: {since: 3d}\n  - retry: {input: all}\n"
        ),
        None,
        "another step reads the whole listing"
    );
}
