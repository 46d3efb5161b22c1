//! `playbooks/beam-nightly.yaml` against the sandbox's Beam "bid" workspace: the default agent's
//! FAILED, ERROR, STOPPED and TIMEOUT tasks of the last day, each retried once with the workspace's
//! key, and nothing older, of another agent, or in another status.

use runbook::sandbox::SandboxConfig;
use serde_json::Value;

use super::{
    assert_clean_exchanges, assert_each_sent_once, assert_report_matches, at_sandbox, changed,
    clean, count_sent, credential, faulty, header, ids_where, run, shipped, start, task,
    within_days,
};

const RETRYABLE: [&str; 4] = ["FAILED", "ERROR", "STOPPED", "TIMEOUT"];

async fn beam_nightly(config: SandboxConfig) {
    let faulted = config.faults > 0.0;
    let sandbox = start(config).await;
    let before = sandbox.tasks("beam");
    let now = jiff::Timestamp::now();
    let eligible = ids_where(&before, "id", |t| {
        t["agentId"] == "agent-sandbox-1"
            && RETRYABLE.iter().any(|s| t["status"] == *s)
            && within_days(&t["createdAt"], 1, now)
    });
    assert_eq!(
        eligible.len(),
        14,
        "the sandbox seeds 14 for the default day"
    );

    let ran = run(at_sandbox(
        shipped("beam-nightly"),
        &sandbox,
        "BEAM_BASE_URL",
        "beam",
        &["BEAM_API_KEY", "BEAM_WORKSPACE_ID"],
    ))
    .await;
    ran.expect_code(0);

    let requests = assert_clean_exchanges(&sandbox, "beam", faulted);
    let key = credential(&sandbox, "BEAM_API_KEY");
    let workspace = credential(&sandbox, "BEAM_WORKSPACE_ID");
    for r in &requests {
        assert_eq!(header(r, "x-api-key"), Some(key.as_str()), "{r:#?}");
        assert_eq!(
            header(r, "current-workspace-id"),
            Some(workspace.as_str()),
            "{r:#?}"
        );
    }
    let retries: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/agent-tasks/retry")
        .collect();
    for r in retries.iter().filter(|r| !r.fault) {
        assert_eq!(r.status, 201, "Beam's retry answers 201: {r:#?}");
    }
    let sent = count_sent(retries.iter().copied(), |r| {
        let body: Value = serde_json::from_str(&r.body).ok()?;
        Some(vec![body["taskId"].as_str()?.to_string()])
    });
    assert_each_sent_once(&sent, &eligible);

    let after = sandbox.tasks("beam");
    let changed = changed(&before, &after, "id");
    assert_eq!(changed, eligible, "exactly the retried tasks changed");
    for id in &changed {
        let (old, new) = (task(&before, "id", id), task(&after, "id", id));
        assert_eq!(new["status"], "QUEUED");
        assert_eq!(
            new["manualRetryCount"].as_u64(),
            old["manualRetryCount"].as_u64().map(|n| n + 1)
        );
    }
    assert_report_matches(&ran, &eligible, &changed);
    assert_eq!(ran.total("failed"), 0);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn beam_nightly_retries_the_default_agents_last_day() {
    beam_nightly(clean()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn beam_nightly_retries_each_task_once_through_faults() {
    beam_nightly(faulty(21)).await;
}

/// The prod workspace (`connection.options.workspace: prod`) with `auth: bearer`: the prod host's
/// key as a bearer token and its workspace id, and only the prod host's tasks touched.
#[tokio::test(flavor = "multi_thread")]
async fn beam_prod_workspace_with_bearer_auth() {
    let sandbox = start(clean()).await;
    let bid_before = sandbox.tasks("beam");
    let before = sandbox.tasks("beam-prod");
    let now = jiff::Timestamp::now();
    let eligible = ids_where(&before, "id", |t| {
        t["agentId"] == "agent-sandbox-2"
            && RETRYABLE.iter().any(|s| t["status"] == *s)
            && within_days(&t["createdAt"], 1, now)
    });
    assert_eq!(
        eligible.len(),
        3,
        "the sandbox seeds 3 for the second agent's day"
    );
    let text = r#"name: beam-prod
provider: beam
connection:
  options: {workspace: prod, auth: bearer}
steps:
  - fetch:
      request:
        query: {agentId: agent-sandbox-2, startDate: "{{ ago('1d') }}"}
  - filter: {since: 1d}
  - retry: {}
"#;
    let runbook = crate::Runbook::play(text);
    let ran = run(at_sandbox(
        runbook,
        &sandbox,
        "BEAM_BASE_URL",
        "beam-prod",
        &["BEAM_API_KEY_PROD", "BEAM_WORKSPACE_ID_PROD"],
    ))
    .await;
    ran.expect_code(0);
    let requests = assert_clean_exchanges(&sandbox, "beam-prod", false);
    let bearer = format!("Bearer {}", credential(&sandbox, "BEAM_API_KEY_PROD"));
    let workspace = credential(&sandbox, "BEAM_WORKSPACE_ID_PROD");
    for r in &requests {
        assert_eq!(header(r, "authorization"), Some(bearer.as_str()), "{r:#?}");
        assert_eq!(header(r, "x-api-key"), None);
        assert_eq!(header(r, "current-workspace-id"), Some(workspace.as_str()));
    }
    let after = sandbox.tasks("beam-prod");
    let changed = changed(&before, &after, "id");
    assert_eq!(changed, eligible);
    assert_report_matches(&ran, &eligible, &changed);
    assert_eq!(
        sandbox.tasks("beam"),
        bid_before,
        "the bid workspace is untouched"
    );
    sandbox.shutdown().await;
}

/// Which list shape Beam serves without `grouping` is undocumented: the legacy flat one
/// (`{data:[task…],pagination}`) is read as well as the grouped one.
#[tokio::test(flavor = "multi_thread")]
async fn beam_nightly_reads_the_legacy_flat_list_too() {
    let sandbox = start(clean()).await;
    sandbox.set_beam_flat_list(true);
    let before = sandbox.tasks("beam");
    let ran = run(at_sandbox(
        shipped("beam-nightly"),
        &sandbox,
        "BEAM_BASE_URL",
        "beam",
        &["BEAM_API_KEY", "BEAM_WORKSPACE_ID"],
    ))
    .await;
    ran.expect_code(0);
    assert_clean_exchanges(&sandbox, "beam", false);
    let changed = changed(&before, &sandbox.tasks("beam"), "id");
    assert_eq!(changed.len(), 14);
    assert_eq!(ran.total("fetched"), 14);
    assert_report_matches(&ran, &changed, &changed);
    sandbox.shutdown().await;
}
