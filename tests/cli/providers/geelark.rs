//! `playbooks/geelark-restart.yaml` against the sandbox's GeeLark: the failed (status 4) tasks of
//! the past week restarted in one batch, every request signed afresh (key mode) or carrying the
//! token (token mode), per-id refusals reported `failed` with GeeLark's code, and cancelled tasks
//! (status 7) restarted only when the playbook is told to.

use std::collections::{BTreeMap, BTreeSet};

use runbook::providers::geelark::sign;
use runbook::sandbox::{RecordedRequest, Sandbox, SandboxConfig};
use serde_json::Value;

use super::{
    assert_clean_exchanges, assert_each_sent_once, assert_report_matches, at_sandbox, changed,
    clean, count_sent, credential, faulty, header, ids_where, run, shipped, start, task,
    within_days,
};
use crate::Runbook;

const RESTART: &str = "/open/v1/task/restart";

/// The ids in a restart request's body.
fn restarted_ids(r: &RecordedRequest) -> Option<Vec<String>> {
    if r.path != RESTART {
        return None;
    }
    let body: Value = serde_json::from_str(&r.body).ok()?;
    Some(
        body["ids"]
            .as_array()?
            .iter()
            .filter_map(|id| id.as_str().map(str::to_string))
            .collect(),
    )
}

/// Every request carries a valid key-mode signature, and no two share a trace id.
fn assert_signed(sandbox: &Sandbox, requests: &[RecordedRequest]) {
    let app_id = credential(sandbox, "GEELARK_APP_ID");
    let key = credential(sandbox, "GEELARK_API_KEY");
    let mut traces = BTreeSet::new();
    for r in requests {
        let get =
            |name: &str| header(r, name).unwrap_or_else(|| panic!("no {name} header: {r:#?}"));
        let (trace, ts, nonce) = (get("traceid"), get("ts"), get("nonce"));
        assert_eq!(get("appid"), app_id);
        assert_eq!(
            nonce,
            &trace[..6],
            "nonce is the trace id's first 6 characters"
        );
        assert!(ts.parse::<u64>().is_ok(), "ts is milliseconds: {ts}");
        assert_eq!(get("sign"), sign(&app_id, trace, ts, nonce, &key), "{r:#?}");
        assert!(
            uuid::Uuid::parse_str(trace).is_ok(),
            "traceId is a UUID: {trace}"
        );
        assert!(traces.insert(trace.to_string()), "trace id {trace} reused");
        assert_eq!(header(r, "authorization"), None);
    }
}

/// Run the shipped playbook; `statuses` as the `--var`, or the default (4).
async fn geelark_restart(config: SandboxConfig, statuses: Option<&str>, token_mode: bool) {
    let faulted = config.faults > 0.0;
    let sandbox = start(config).await;
    let before = sandbox.tasks("geelark");
    let now = jiff::Timestamp::now();
    let wanted: Vec<i64> = match statuses {
        Some(_) => vec![4, 7],
        None => vec![4],
    };
    let eligible = ids_where(&before, "id", |t| {
        t["status"].as_i64().is_some_and(|s| wanted.contains(&s))
            && within_days(&t["scheduleAt"], 7, now)
    });
    let refused: BTreeMap<String, &str> = before
        .iter()
        .filter(|t| eligible.contains(&super::text(&t["id"])))
        .filter_map(|t| {
            let code = if t["envDeleted"] == true {
                "40005"
            } else if t["resourceExpired"] == true {
                "48003"
            } else if t["restartCount"].as_u64() >= Some(5) {
                "48000"
            } else {
                return None;
            };
            Some((super::text(&t["id"]), code))
        })
        .collect();
    assert_eq!(
        (eligible.len(), refused.len()),
        (if statuses.is_some() { 12 } else { 10 }, 3),
        "the sandbox seeds 10 failed (3 refused) and 2 cancelled tasks in the window"
    );

    let mut runbook: Runbook = shipped("geelark-restart");
    if let Some(statuses) = statuses {
        runbook = runbook.args(["--var", &format!("statuses={statuses}")]);
    }
    let credentials: &[&str] = if token_mode {
        &["GEELARK_TOKEN"]
    } else {
        &["GEELARK_APP_ID", "GEELARK_API_KEY"]
    };
    let ran = run(at_sandbox(
        runbook,
        &sandbox,
        "GEELARK_BASE_URL",
        "geelark",
        credentials,
    ))
    .await;
    ran.expect_code(1);

    let requests = assert_clean_exchanges(&sandbox, "geelark", faulted);
    if token_mode {
        let bearer = format!("Bearer {}", credential(&sandbox, "GEELARK_TOKEN"));
        let mut traces = BTreeSet::new();
        for r in &requests {
            assert_eq!(header(r, "authorization"), Some(bearer.as_str()), "{r:#?}");
            assert_eq!(header(r, "sign"), None);
            let trace = header(r, "traceid").expect("a traceId header");
            assert!(traces.insert(trace.to_string()), "trace id {trace} reused");
        }
    } else {
        assert_signed(&sandbox, &requests);
    }
    for r in &requests {
        assert_eq!(r.method, "POST", "GeeLark is all POST: {r:#?}");
    }
    let sent = count_sent(&requests, restarted_ids);
    assert_each_sent_once(&sent, &eligible);

    let after = sandbox.tasks("geelark");
    let changed = changed(&before, &after, "id");
    let accepted: BTreeSet<String> = eligible
        .iter()
        .filter(|id| !refused.contains_key(*id))
        .cloned()
        .collect();
    assert_eq!(changed, accepted, "exactly the restarted tasks changed");
    for id in &changed {
        let (old, new) = (task(&before, "id", id), task(&after, "id", id));
        assert_eq!(new["status"], 1, "a restarted task is waiting again");
        assert_eq!(
            new["restartCount"].as_u64(),
            old["restartCount"].as_u64().map(|n| n + 1)
        );
    }
    assert_report_matches(&ran, &eligible, &changed);
    assert_eq!(ran.total("failed"), 3);
    for (id, code) in &refused {
        let item = ran.item(id);
        assert_eq!(item["outcome"], "failed", "{item:#}");
        let message = item["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(code), "{code} is reported: {item:#}");
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn geelark_restart_restarts_the_weeks_failed_tasks_signed() {
    geelark_restart(clean(), None, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn geelark_restart_restarts_each_task_once_through_faults() {
    geelark_restart(faulty(24), None, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn geelark_restart_takes_cancelled_tasks_only_when_asked() {
    geelark_restart(clean(), Some("4,7"), false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn geelark_restart_in_token_mode_sends_the_bearer_token() {
    geelark_restart(clean(), None, true).await;
}

/// GeeLark's list endpoint is a POST: a dry run sends it (a read) and signs it, and plans the
/// restart without sending it.
#[tokio::test(flavor = "multi_thread")]
async fn geelark_dry_run_reads_with_posts_and_sends_no_restart() {
    let sandbox = start(clean()).await;
    let before = sandbox.tasks("geelark");
    let now = jiff::Timestamp::now();
    let eligible = ids_where(&before, "id", |t| {
        t["status"] == 4 && within_days(&t["scheduleAt"], 7, now)
    });
    let ran = run(at_sandbox(
        shipped("geelark-restart").arg("--dry-run"),
        &sandbox,
        "GEELARK_BASE_URL",
        "geelark",
        &["GEELARK_APP_ID", "GEELARK_API_KEY"],
    ))
    .await;
    ran.expect_code(0);
    let requests = assert_clean_exchanges(&sandbox, "geelark", false);
    assert_signed(&sandbox, &requests);
    assert!(
        requests
            .iter()
            .all(|r| r.path == "/open/v1/task/historyRecords"),
        "only the list was sent: {requests:#?}"
    );
    assert_eq!(sandbox.tasks("geelark"), before, "nothing changed");
    assert_eq!(ran.total("planned"), eligible.len() as u64);
    let report = ran.report();
    let planned: BTreeSet<String> = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .flat_map(|i| {
            assert_eq!(i["outcome"], "planned");
            assert!(
                i["request"]["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(RESTART))
            );
            i["request"]["body"]["ids"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|id| super::text(&id))
        .collect();
    assert_eq!(
        planned, eligible,
        "the planned restart names every eligible id"
    );
    sandbox.shutdown().await;
}
