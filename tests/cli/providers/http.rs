//! `playbooks/http-example.yaml` (the generic adapter) against the sandbox's task API: the failed
//! and timed-out tasks of the last seven days each retried once by four workers, with the token.

use runbook::sandbox::SandboxConfig;

use super::{
    assert_clean_exchanges, assert_each_sent_once, assert_report_matches, at_sandbox, changed,
    clean, count_sent, credential, faulty, header, ids_where, run, shipped, start, task,
    within_days,
};

/// The retried task's id: `/tasks/{id}/retry`.
fn retried_id(path: &str) -> Option<String> {
    path.strip_prefix("/tasks/")?
        .strip_suffix("/retry")
        .map(str::to_string)
}

async fn http_example(config: SandboxConfig) {
    let faulted = config.faults > 0.0;
    let sandbox = start(config).await;
    let before = sandbox.tasks("http");
    let now = jiff::Timestamp::now();
    let eligible = ids_where(&before, "id", |t| {
        (t["status"] == "failed" || t["status"] == "timed_out")
            && within_days(&t["created_at"], 7, now)
    });
    let retryable = ids_where(&before, "id", |t| {
        t["status"] == "failed" || t["status"] == "timed_out"
    });
    assert_eq!(
        retryable.len(),
        30,
        "the sandbox seeds 24 failed and 6 timed out"
    );
    assert!(
        !eligible.is_empty() && eligible.len() < retryable.len(),
        "the seed puts retryable tasks on both sides of the 7-day edge"
    );

    let ran = run(at_sandbox(
        shipped("http-example"),
        &sandbox,
        "TASKS_API_URL",
        "http",
        &["TASKS_API_TOKEN"],
    ))
    .await;
    ran.expect_code(0);

    let requests = assert_clean_exchanges(&sandbox, "http", faulted);
    let bearer = format!("Bearer {}", credential(&sandbox, "TASKS_API_TOKEN"));
    for r in &requests {
        assert_eq!(header(r, "authorization"), Some(bearer.as_str()), "{r:#?}");
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

    let after = sandbox.tasks("http");
    let changed = changed(&before, &after, "id");
    assert_eq!(changed, eligible, "exactly the retried tasks changed");
    for id in &changed {
        let (old, new) = (task(&before, "id", id), task(&after, "id", id));
        assert_eq!(new["status"], "queued");
        assert_eq!(
            new["attempts"].as_u64(),
            old["attempts"].as_u64().map(|n| n + 1)
        );
    }
    assert_report_matches(&ran, &eligible, &changed);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_example_retries_the_weeks_failed_and_timed_out_tasks() {
    http_example(clean()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_example_retries_each_task_once_through_faults() {
    http_example(faulty(26)).await;
}
