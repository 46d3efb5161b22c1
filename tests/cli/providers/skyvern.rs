//! `playbooks/skyvern-failed.yaml` against the sandbox's Skyvern: the failed and timed-out runs of
//! the last three days each retried once, which leaves them as they were and creates one new run
//! apiece, reported as the item's `new_id`; completed, terminated and canceled runs, which Skyvern
//! would retry too, are never sent.

use std::collections::{BTreeMap, BTreeSet};

use runbook::sandbox::SandboxConfig;

use super::{
    assert_clean_exchanges, assert_each_sent_once, at_sandbox, clean, count_sent, credential,
    faulty, header, ids_where, report_ids, run, shipped, start, task, text, within_days,
};

/// The retried run's id: `/v1/agents/runs/{id}/retry`.
fn retried_id(path: &str) -> Option<String> {
    path.strip_prefix("/v1/agents/runs/")?
        .strip_suffix("/retry")
        .map(str::to_string)
}

async fn skyvern_failed(config: SandboxConfig) {
    let faulted = config.faults > 0.0;
    let sandbox = start(config).await;
    let before = sandbox.tasks("skyvern");
    let now = jiff::Timestamp::now();
    let key = "workflow_run_id";
    let eligible = ids_where(&before, key, |t| {
        (t["status"] == "failed" || t["status"] == "timed_out")
            && within_days(&t["created_at"], 3, now)
    });
    assert_eq!(
        eligible.len(),
        10,
        "the sandbox seeds 7 failed and 3 timed_out recent runs"
    );

    let ran = run(at_sandbox(
        shipped("skyvern-failed"),
        &sandbox,
        "SKYVERN_BASE_URL",
        "skyvern",
        &["SKYVERN_API_KEY"],
    ))
    .await;
    ran.expect_code(0);

    let requests = assert_clean_exchanges(&sandbox, "skyvern", faulted);
    let api_key = credential(&sandbox, "SKYVERN_API_KEY");
    for r in &requests {
        assert_eq!(header(r, "x-api-key"), Some(api_key.as_str()), "{r:#?}");
    }
    let retries: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && retried_id(&r.path).is_some())
        .collect();
    for r in retries.iter().filter(|r| !r.fault) {
        assert_eq!(r.status, 200, "{r:#?}");
    }
    let sent = count_sent(retries.iter().copied(), |r| {
        retried_id(&r.path).map(|id| vec![id])
    });
    assert_each_sent_once(&sent, &eligible);

    let after = sandbox.tasks("skyvern");
    for old in &before {
        let id = text(&old[key]);
        assert_eq!(
            task(&after, key, &id),
            old,
            "a retry leaves the old run as it was"
        );
    }
    let old_ids: BTreeSet<String> = ids_where(&before, key, |_| true);
    let new_runs: BTreeMap<String, String> = after
        .iter()
        .filter(|t| !old_ids.contains(&text(&t[key])))
        .map(|t| (text(&t[key]), text(&t["sandbox_retry_of"])))
        .collect();
    let origins: BTreeSet<String> = new_runs.values().cloned().collect();
    assert_eq!(new_runs.len(), eligible.len(), "one new run per retry");
    assert_eq!(
        origins, eligible,
        "each eligible run retried into one new run"
    );
    for id in new_runs.keys() {
        assert_eq!(task(&after, key, id)["status"], "created");
    }

    let report = ran.report();
    assert_eq!(report["aborted"], serde_json::Value::Null);
    assert_eq!(ran.total("selected"), eligible.len() as u64);
    assert_eq!(ran.total("retried"), new_runs.len() as u64);
    assert_eq!(report_ids(&ran, Some("retried")), eligible);
    for id in &eligible {
        let item = ran.item(id);
        let new_id = item["new_id"]
            .as_str()
            .expect("a retried item has a new_id");
        assert_eq!(
            new_runs.get(new_id),
            Some(id),
            "new_id {new_id} is the new run retried from {id}"
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn skyvern_failed_retries_recent_failed_runs_into_new_runs() {
    skyvern_failed(clean()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn skyvern_failed_retries_each_run_once_through_faults() {
    skyvern_failed(faulty(25)).await;
}

/// Skyvern retries any finished run, so the adapter keeps retries to the selected statuses even
/// when a playbook hands the retry step everything it fetched: completed, terminated and canceled
/// runs are reported skipped and never sent.
#[tokio::test(flavor = "multi_thread")]
async fn skyvern_never_sends_a_run_outside_the_selected_statuses() {
    let sandbox = start(clean()).await;
    let before = sandbox.tasks("skyvern");
    let key = "workflow_run_id";
    let failed = ids_where(&before, key, |t| t["status"] == "failed");
    let finished_otherwise = ids_where(&before, key, |t| {
        ["completed", "terminated", "canceled"]
            .iter()
            .any(|s| t["status"] == *s)
    });
    assert_eq!((failed.len(), finished_otherwise.len()), (10, 19));
    let text = r#"name: skyvern-unfiltered
provider: skyvern
steps:
  - fetch:
      request:
        query: {status: [failed, completed, terminated, canceled]}
  - retry: {}
"#;
    let ran = run(at_sandbox(
        crate::Runbook::play(text),
        &sandbox,
        "SKYVERN_BASE_URL",
        "skyvern",
        &["SKYVERN_API_KEY"],
    ))
    .await;
    ran.expect_code(0);
    let requests = assert_clean_exchanges(&sandbox, "skyvern", false);
    let sent = count_sent(&requests, |r| retried_id(&r.path).map(|id| vec![id]));
    assert_each_sent_once(&sent, &failed);
    assert_eq!(report_ids(&ran, Some("retried")), failed);
    assert_eq!(report_ids(&ran, Some("skipped")), finished_otherwise);
    for id in &finished_otherwise {
        let item = ran.item(id);
        let message = item["message"].as_str().unwrap_or_default();
        assert!(message.contains("not sent"), "{item:#}");
    }
    let after = sandbox.tasks("skyvern");
    assert_eq!(
        after.len(),
        before.len() + failed.len(),
        "one new run per failed run"
    );
    sandbox.shutdown().await;
}
