//! `playbooks/deepwork-blocked.yaml` against the sandbox's PocketPaw: the blocked tasks of the
//! last seven days, each retried once through its own project's endpoint with the bearer token;
//! older blocked tasks and tasks in any other status are left alone.

use runbook::sandbox::SandboxConfig;

use super::{
    assert_clean_exchanges, assert_each_sent_once, assert_report_matches, at_sandbox, changed,
    clean, count_sent, credential, faulty, header, ids_where, run, shipped, start, task,
    within_days,
};

async fn deepwork_blocked(config: SandboxConfig) {
    let faulted = config.faults > 0.0;
    let sandbox = start(config).await;
    let before = sandbox.tasks("deepwork");
    let now = jiff::Timestamp::now();
    let eligible = ids_where(&before, "id", |t| {
        t["status"] == "blocked"
            && !t["project_id"].is_null()
            && within_days(&t["created_at"], 7, now)
    });
    assert_eq!(
        eligible.len(),
        5,
        "the sandbox seeds 3 + 2 recent blocked tasks"
    );

    let ran = run(at_sandbox(
        shipped("deepwork-blocked"),
        &sandbox,
        "DEEPWORK_BASE_URL",
        "deepwork",
        &["DEEPWORK_TOKEN"],
    ))
    .await;
    ran.expect_code(0);

    let requests = assert_clean_exchanges(&sandbox, "deepwork", faulted);
    let bearer = format!("Bearer {}", credential(&sandbox, "DEEPWORK_TOKEN"));
    for r in &requests {
        assert_eq!(header(r, "authorization"), Some(bearer.as_str()), "{r:#?}");
    }
    // POST /api/deep-work/projects/{project}/tasks/{task}/retry
    let retries: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/retry"))
        .collect();
    for r in retries.iter().filter(|r| !r.fault) {
        assert_eq!(r.status, 200, "{r:#?}");
        let parts: Vec<&str> = r.path.split('/').collect();
        assert_eq!(parts.len(), 8, "{}", r.path);
        let t = task(&before, "id", parts[6]);
        assert_eq!(t["project_id"], parts[4], "retried through its own project");
    }
    let sent = count_sent(retries.iter().copied(), |r| {
        r.path.split('/').nth(6).map(|id| vec![id.to_string()])
    });
    assert_each_sent_once(&sent, &eligible);

    let after = sandbox.tasks("deepwork");
    let changed = changed(&before, &after, "id");
    assert_eq!(changed, eligible, "exactly the retried tasks changed");
    for id in &changed {
        let (old, new) = (task(&before, "id", id), task(&after, "id", id));
        assert_eq!(new["status"], "assigned");
        assert_eq!(
            new["retry_count"].as_u64(),
            old["retry_count"].as_u64().map(|n| n + 1)
        );
        assert!(new["error_message"].is_null());
    }
    assert_report_matches(&ran, &eligible, &changed);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deepwork_blocked_retries_recent_blocked_tasks() {
    deepwork_blocked(clean()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deepwork_blocked_retries_each_task_once_through_faults() {
    deepwork_blocked(faulty(22)).await;
}

/// PocketPaw's own limiter (a token bucket answering 429 with `Retry-After`) rather than injected
/// faults: every blocked task is still retried once, and no request goes out while a wait runs.
#[tokio::test(flavor = "multi_thread")]
async fn deepwork_blocked_waits_out_pocketpaws_rate_limiter() {
    let sandbox = start(clean()).await;
    sandbox.set_deepwork_rate_limit(Some(runbook::sandbox::RateLimit {
        per_second: 1.0,
        burst: 2,
    }));
    let before = sandbox.tasks("deepwork");
    let now = jiff::Timestamp::now();
    let eligible = ids_where(&before, "id", |t| {
        t["status"] == "blocked"
            && !t["project_id"].is_null()
            && within_days(&t["created_at"], 7, now)
    });
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
    assert!(
        requests.iter().any(|r| r.status == 429),
        "the limiter answered 429 at least once"
    );
    let sent = count_sent(
        requests
            .iter()
            .filter(|r| r.path.ends_with("/retry") && r.status == 200),
        |r| r.path.split('/').nth(6).map(|id| vec![id.to_string()]),
    );
    assert_each_sent_once(&sent, &eligible);
    let changed = changed(&before, &sandbox.tasks("deepwork"), "id");
    assert_eq!(changed, eligible);
    assert_report_matches(&ran, &eligible, &changed);
    sandbox.shutdown().await;
}
