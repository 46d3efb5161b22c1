//! `runbook retry PROVIDER ID...`: named tasks retried through the same engine, ledger and report
//! as a playbook, for every provider against the in-process sandbox. The ids are the sandbox's own
//! (found by a dry run of the shipped playbook); the ledger shows each was sent exactly once, and a
//! second run does not send them again.

use std::path::Path;

use serde_json::Value;

use crate::new_playbooks::{Out, run_in};
use crate::repo_path;

/// The sandbox's generic API takes its bearer token from the sandbox's credentials.
const HTTP_AUTH: &str = "Authorization: Bearer {{ secret('TASKS_API_TOKEN') }}";

fn json(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).expect("a report");
    serde_json::from_str(&text).expect("a JSON report")
}

/// Up to `n` ids the shipped playbook of `provider` would retry in the sandbox.
fn sandbox_ids(dir: &Path, playbook: &str, n: usize) -> Vec<String> {
    let path = repo_path(&format!("playbooks/{playbook}.yaml"));
    // The Herodotus playbook reads its ids file relative to the working directory.
    let ids_file = repo_path("playbooks/herodotus-sandbox-ids.json");
    let ids_var = format!("ids_file={}", ids_file.display());
    let mut args = vec!["play", path.to_str().expect("a UTF-8 path")];
    if playbook.starts_with("herodotus") {
        args.extend(["--var", &ids_var]);
    }
    args.extend(["--sandbox", "--dry-run", "--quiet", "-o", "found.json"]);
    run_in(dir, &args).expect_code(0);
    let report = json(dir, "found.json");
    let items = report["items"].as_array().expect("items");
    let ids: Vec<String> = items
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .take(n)
        .collect();
    assert_eq!(ids.len(), n, "the sandbox has {n} ids to retry: {report:#}");
    ids
}

/// Retry requests the ledger recorded for `id` (step `retried`), answered or not.
fn sends_in_ledger(dir: &Path, provider: &str, id: &str) -> i64 {
    let ledger =
        rusqlite::Connection::open(dir.join(".runbook/sandbox-ledger.db")).expect("ledger");
    ledger
        .query_row(
            "SELECT COUNT(*) FROM request_items i JOIN requests r ON r.id = i.request_id
             WHERE r.step = 'retried' AND i.provider = ?1 AND i.item_id = ?2",
            rusqlite::params![provider, id],
            |r| r.get(0),
        )
        .expect("a count")
}

fn retry(dir: &Path, provider: &str, ids: &[String], report: &str) -> Out {
    let mut args = vec!["retry", provider];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--sandbox", "--quiet", "-o", report]);
    if provider == "http" {
        args.extend(["--header", HTTP_AUTH]);
    }
    run_in(dir, &args)
}

fn outcome_of(report: &Value, id: &str) -> (String, String) {
    let item = report["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == id))
        .unwrap_or_else(|| panic!("{id} is not in the report: {report:#}"));
    (
        item["outcome"].as_str().unwrap_or_default().to_string(),
        item["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn every_provider_retries_the_ids_once_and_a_second_run_skips_them() {
    for (provider, playbook) in [
        ("beam", "beam-nightly"),
        ("deepwork", "deepwork-blocked"),
        ("geelark", "geelark-restart"),
        ("herodotus", "herodotus-failed"),
        ("skyvern", "skyvern-failed"),
        ("http", "http-example"),
    ] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let dir = dir.path();
        // GeeLark's sandbox refuses its first failed task (retry limit reached): take the next two.
        let ids = match provider {
            "geelark" => sandbox_ids(dir, playbook, 3)[1..].to_vec(),
            _ => sandbox_ids(dir, playbook, 2),
        };
        let first = retry(dir, provider, &ids, "first.json");
        first.expect_code(0);
        let report = json(dir, "first.json");
        assert_eq!(
            report["playbook"],
            format!("retry-{provider}"),
            "{report:#}"
        );
        for id in &ids {
            assert_eq!(
                outcome_of(&report, id).0,
                "retried",
                "{provider} {id}: {report:#}"
            );
            assert_eq!(sends_in_ledger(dir, provider, id), 1, "{provider} {id}");
        }
        assert_eq!(
            report["totals"]["retried"],
            ids.len(),
            "{provider}: {report:#}"
        );

        let second = retry(dir, provider, &ids, "second.json");
        second.expect_code(0);
        let report = json(dir, "second.json");
        for id in &ids {
            let (outcome, message) = outcome_of(&report, id);
            assert!(
                matches!(outcome.as_str(), "chronic" | "skipped"),
                "{provider} {id}: sent again: {report:#}"
            );
            assert!(
                message.contains("retried") && message.contains("not retried again")
                    || message.starts_with("retried before as "),
                "{provider} {id}: the note says why: {message}"
            );
            assert_eq!(sends_in_ledger(dir, provider, id), 1, "{provider} {id}");
        }
        assert_eq!(report["totals"]["retried"], 0, "{provider}: {report:#}");
    }
}

#[test]
fn again_sends_an_id_retried_today() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    let ids = sandbox_ids(dir, "herodotus-failed", 1);
    retry(dir, "herodotus", &ids, "first.json").expect_code(0);
    let mut args = vec!["retry", "herodotus", ids[0].as_str(), "--again"];
    args.extend(["--sandbox", "--quiet", "-o", "again.json"]);
    // A fresh sandbox: its task is failed again, so the retry is accepted.
    run_in(dir, &args).expect_code(0);
    assert_eq!(outcome_of(&json(dir, "again.json"), &ids[0]).0, "retried");
    assert_eq!(sends_in_ledger(dir, "herodotus", &ids[0]), 2);
}

#[test]
fn a_task_that_did_not_fail_is_skipped_not_sent() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    // The first task of the sandbox's Herodotus ids file has completed.
    let done = "01KDV2VC4ZE8GQW4DX2M21G7QS";
    let ran = run_in(
        dir,
        &[
            "retry",
            "herodotus",
            done,
            "--sandbox",
            "--quiet",
            "-o",
            "r.json",
        ],
    );
    ran.expect_code(0);
    let (outcome, message) = outcome_of(&json(dir, "r.json"), done);
    assert_eq!(outcome, "skipped");
    assert_eq!(
        message,
        "status TaskDecommitmentCompleted is not one selected for retry (DryRunFailed, ChainProofsFetchFailed, TraceGenFailed, AtlanticProvingFailed, TaskDecommitmentFailed); not sent"
    );
    assert_eq!(sends_in_ledger(dir, "herodotus", done), 0);
}

#[test]
fn ids_can_come_from_a_file_and_dry_run_sends_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    let ids = sandbox_ids(dir, "skyvern-failed", 2);
    let file = serde_json::to_string(&ids).expect("json");
    std::fs::write(dir.join("ids.json"), file).expect("write ids");
    let ran = run_in(
        dir,
        &[
            "retry",
            "skyvern",
            "--file",
            "ids.json",
            "--sandbox",
            "--dry-run",
            "--quiet",
            "-o",
            "r.json",
        ],
    );
    ran.expect_code(0);
    let report = json(dir, "r.json");
    assert_eq!(report["totals"]["planned"], 2, "{report:#}");
    for id in &ids {
        assert_eq!(sends_in_ledger(dir, "skyvern", id), 0);
    }
}

#[test]
fn an_unknown_provider_gets_a_did_you_mean_and_exit_2() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ran = run_in(dir.path(), &["retry", "geelrak", "1", "2"]);
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: unknown provider `geelrak`; did you mean `geelark`?\n"
    );
    assert!(!dir.path().join(".runbook").exists(), "nothing was written");
}

#[test]
fn http_without_an_address_says_how_to_give_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ran = run_in(dir.path(), &["retry", "http", "task-1"]);
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: runbook retry http needs --base-url URL (the API's address), or --sandbox to try it against the sandbox\n"
    );
}

/// Regression: `runbook retry http ID --sandbox` without `--header` was refused by the sandbox
/// (HTTP 401, run aborted). With `--sandbox` and no header, the sandbox's bearer token is sent.
#[test]
fn http_against_the_sandbox_needs_no_header() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    let ids = sandbox_ids(dir, "http-example", 2);
    let mut args = vec!["retry", "http"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--sandbox", "--quiet", "-o", "r.json"]);
    let ran = run_in(dir, &args);
    ran.expect_code(0);
    let report = json(dir, "r.json");
    for id in &ids {
        assert_eq!(outcome_of(&report, id).0, "retried", "{id}: {report:#}");
    }
}
