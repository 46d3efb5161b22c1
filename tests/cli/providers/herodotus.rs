//! `playbooks/herodotus-failed.yaml` against the sandbox's HDP: every id of the file has its status
//! read, every `*Failed` task gets one retry with the API key, the one decommitment failure without
//! results is reported `failed` with HDP's reason, and the note says what a retry re-runs.

use std::collections::BTreeSet;

use runbook::sandbox::SandboxConfig;
use serde_json::Value;

use super::{
    assert_clean_exchanges, assert_each_sent_once, assert_report_matches, at_sandbox, changed,
    clean, count_sent, credential, faulty, header, ids_where, run, shipped, start, task, text,
};
use crate::{Runbook, repo_path};

/// The retry request's task id: `/tasks/{id}/retry`.
fn retried_id(path: &str) -> Option<String> {
    path.strip_prefix("/tasks/")?
        .strip_suffix("/retry")
        .map(str::to_string)
}

/// `ids_file`: the shipped file at its default relative path, or the sandbox's own ids.
async fn herodotus_failed(config: SandboxConfig, shipped_ids: bool) {
    let faulted = config.faults > 0.0;
    let sandbox = start(config).await;
    let before = sandbox.tasks("herodotus");
    let all: BTreeSet<String> = ids_where(&before, "taskId", |_| true);
    let eligible = ids_where(&before, "taskId", |t| {
        t["status"].as_str().is_some_and(|s| s.ends_with("Failed"))
    });
    assert_eq!(eligible.len(), 10, "the sandbox seeds 10 failed tasks");
    let stuck = ids_where(&before, "taskId", |t| {
        t["status"] == "TaskDecommitmentFailed" && t["hasResults"] == false
    });
    assert_eq!(stuck.len(), 1, "one decommitment failure has no results");

    let runbook: Runbook = if shipped_ids {
        let file = std::fs::read_to_string(repo_path("playbooks/herodotus-sandbox-ids.json"))
            .expect("the shipped ids file");
        shipped("herodotus-failed").file("playbooks/herodotus-sandbox-ids.json", &file)
    } else {
        let ids: Vec<&String> = all.iter().collect();
        shipped("herodotus-failed")
            .file(
                "ids.json",
                &serde_json::to_string(&ids).expect("ids as JSON"),
            )
            .args(["--var", "ids_file=ids.json"])
    };
    let ran = run(at_sandbox(
        runbook,
        &sandbox,
        "HERODOTUS_BASE_URL",
        "herodotus",
        &["HERODOTUS_API_KEY"],
    ))
    .await;
    ran.expect_code(1);

    let requests = assert_clean_exchanges(&sandbox, "herodotus", faulted);
    let key = credential(&sandbox, "HERODOTUS_API_KEY");
    for r in &requests {
        assert_eq!(header(r, "x-api-key"), Some(key.as_str()), "{r:#?}");
    }
    let reads = count_sent(requests.iter().filter(|r| r.method == "GET"), |r| {
        let id = r.path.strip_prefix("/tasks/")?.strip_suffix("/status")?;
        Some(vec![id.to_string()])
    });
    assert_each_sent_once(&reads, &all);

    let retries: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && retried_id(&r.path).is_some())
        .collect();
    if faulted {
        assert!(
            retries.iter().any(|r| r.fault && r.status == 429),
            "a retry was told to wait"
        );
    }
    let sent = count_sent(retries.iter().copied(), |r| {
        retried_id(&r.path).map(|id| vec![id])
    });
    assert_each_sent_once(&sent, &eligible);
    for r in retries.iter().filter(|r| !r.fault) {
        let id = retried_id(&r.path).unwrap_or_default();
        let expected = if stuck.contains(&id) { 400 } else { 200 };
        assert_eq!(r.status, expected, "{r:#?}");
    }

    let after = sandbox.tasks("herodotus");
    let changed = changed(&before, &after, "taskId");
    let accepted: BTreeSet<String> = eligible.difference(&stuck).cloned().collect();
    assert_eq!(
        changed, accepted,
        "exactly the accepted retries changed a task"
    );
    for id in &changed {
        let new = task(&after, "taskId", id);
        assert_eq!(new["status"], "Received");
        assert!(new["errorMessage"].is_null());
    }
    assert_report_matches(&ran, &eligible, &changed);
    assert_eq!(ran.total("failed"), 1);

    let stuck_id = stuck.first().expect("one stuck task");
    let item = ran.item(stuck_id);
    assert_eq!(item["outcome"], "failed");
    assert_eq!(item["http_status"], 400);
    let message = item["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Cannot retry decommitment"),
        "HDP's reason is reported: {item:#}"
    );
    for id in &changed {
        let item = ran.item(id);
        let note = if task(&before, "taskId", id)["status"] == "TaskDecommitmentFailed" {
            "only the decommitment re-runs"
        } else {
            "the whole pipeline re-runs from Received"
        };
        assert_eq!(item["message"], Value::from(note), "{item:#}");
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn herodotus_failed_retries_the_failed_tasks_of_the_shipped_ids_file() {
    herodotus_failed(clean(), true).await;
}

/// Seed 60 faults one status read (a 503) and then rate limits two of the retries, once with
/// `Retry-After` in seconds and once as an HTTP date.
#[tokio::test(flavor = "multi_thread")]
async fn herodotus_failed_retries_each_task_once_through_faults() {
    herodotus_failed(faulty(60), false).await;
}

/// The shipped ids file is the default sandbox's tasks, so that `--sandbox` finds them.
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_herodotus_ids_are_the_default_sandboxs() {
    let sandbox = start(clean()).await;
    let seeded = ids_where(&sandbox.tasks("herodotus"), "taskId", |_| true);
    let file = std::fs::read_to_string(repo_path("playbooks/herodotus-sandbox-ids.json"))
        .expect("the shipped ids file");
    let listed: Vec<Value> = serde_json::from_str(&file).expect("a JSON array");
    let listed: BTreeSet<String> = listed.iter().map(text).collect();
    assert_eq!(listed, seeded);
    sandbox.shutdown().await;
}
