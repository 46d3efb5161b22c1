//! `play --sandbox`: the shipped example playbook runs end to end against the in-process sandbox.

use crate::{Runbook, repo_path};

#[test]
fn http_example_runs_against_the_sandbox() {
    let example = repo_path("playbooks/http-example.yaml");
    let ran = Runbook::new(["play", &example.display().to_string(), "--sandbox"])
        // The example's default rate (5/s) is for real APIs; the sandbox takes more.
        .args(["--var", "rate=200/s"])
        .report("report.json")
        .run();
    ran.expect_code(0);
    assert!(
        ran.stderr
            .contains("sandbox: serving http at http://127.0.0.1:"),
        "{ran:?}"
    );
    let t = |name| ran.total(name);
    assert!(t("fetched") > 0 && t("selected") > 0, "{:#}", ran.report());
    assert_eq!(t("selected"), t("retried") + t("skipped") + t("failed"));
    assert_eq!(t("failed"), 0);
    assert!(t("retried") > 0);
    assert!(t("selected") <= t("fetched"));
    for item in ran.report()["items"].as_array().expect("items") {
        let status = item["status"].as_str().unwrap_or_default();
        assert!(
            ["failed", "timed_out"].contains(&status),
            "only failed and timed-out tasks are retried: {item}"
        );
    }
}
