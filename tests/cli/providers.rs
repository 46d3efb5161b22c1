//! The built-in provider adapters end to end: every shipped playbook run by the binary against the
//! in-process sandbox, once as it is and once with injected transient faults, and judged by the
//! sandbox's own record — which requests arrived, with which credentials, how each task's state
//! changed — and by the JSON report set against that record.
//!
//! Invariants: each test starts its own sandbox on 127.0.0.1:0 inside its own multi-threaded
//! runtime and runs the binary on a blocking thread, so the sandbox answers while the test waits.
//! What should happen is computed from the sandbox's snapshot taken before the run (statuses, ages),
//! and checked against the counts the sandbox documents as its seeded facts. A faulted request
//! (`fault: true`) never reached the emulation, so it never counts as a retry.

mod beam;
mod deepwork;
mod deepwork_real;
mod geelark;
mod herodotus;
mod http;
mod setup;
mod skyvern;

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use runbook::sandbox::{RecordedRequest, Sandbox, SandboxConfig};
use serde_json::Value;

use crate::{Ran, Runbook, repo_path};

/// No faults: the sandbox as `--sandbox` starts it.
pub fn clean() -> SandboxConfig {
    SandboxConfig::default()
}

/// About one request in five answered with a transient fault (503, or 429 with a one-second
/// `Retry-After`; GeeLark's envelope 40007), from a fixed seed; never more than three in a row
/// for one request, so that a shipped playbook's five attempts always get through. The sequence
/// follows the order requests arrive in, which concurrency varies: uncapped, a task met five
/// faults in a row once in 96 runs of the six fault tests (session 16: a fresh-clone CI run's
/// `http_example_retries_each_task_once_through_faults`).
pub fn faulty(seed: u64) -> SandboxConfig {
    SandboxConfig {
        seed,
        faults: 0.2,
        max_fault_streak: Some(3),
        retry_after_secs: 1,
        ..SandboxConfig::default()
    }
}

pub async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config).await.expect("the sandbox starts")
}

/// `runbook play <repo>/playbooks/NAME.yaml -o report.json`, in an empty temporary directory.
pub fn shipped(name: &str) -> Runbook {
    let path = repo_path(&format!("playbooks/{name}.yaml"));
    Runbook::new(["play".to_string(), path.display().to_string()]).report("report.json")
}

/// The sandbox's value of credential `name`.
pub fn credential(sandbox: &Sandbox, name: &str) -> String {
    sandbox
        .credentials()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("the sandbox has no credential {name}"))
}

/// Point `runbook` at the sandbox's `api` through `base_url_var`, with exactly the sandbox
/// credentials named.
pub fn at_sandbox(
    runbook: Runbook,
    sandbox: &Sandbox,
    base_url_var: &str,
    api: &str,
    credentials: &[&str],
) -> Runbook {
    let url = sandbox.base_url(api).expect("the sandbox serves this API");
    let mut runbook = runbook.env(base_url_var, &url);
    for name in credentials {
        runbook = runbook.env(name, &credential(sandbox, name));
    }
    runbook
}

/// Run the binary on a blocking thread, so that the sandbox keeps answering meanwhile.
pub async fn run(runbook: Runbook) -> Ran {
    tokio::task::spawn_blocking(move || runbook.run())
        .await
        .expect("the run's thread finishes")
}

/// Checks every shipped-playbook run shares: nothing but `api` was called, every request was
/// answered, no credentials were refused, every `Retry-After` was respected, and — in a faulted
/// sandbox — faults were in fact injected.
pub fn assert_clean_exchanges(sandbox: &Sandbox, api: &str, faulted: bool) -> Vec<RecordedRequest> {
    let all = sandbox.requests();
    let others: Vec<&RecordedRequest> = all.iter().filter(|r| r.api != api).collect();
    assert!(others.is_empty(), "requests to other APIs: {others:#?}");
    assert!(!all.is_empty(), "the run sent no request to {api}");
    for r in &all {
        assert_ne!(r.status, 0, "a request was never answered: {r:#?}");
        assert!(
            !matches!(r.status, 401 | 403),
            "the sandbox refused the credentials: {r:#?}"
        );
    }
    let violations = sandbox.retry_after_violations();
    assert!(
        violations.is_empty(),
        "requests sent while a Retry-After was running: {violations:#?}\n{}",
        summary(&all)
    );
    let faults = all.iter().filter(|r| r.fault).count();
    if faulted {
        assert!(faults > 0, "the faulted sandbox injected no fault");
    } else {
        assert_eq!(faults, 0);
    }
    all
}

/// One line per request: arrival, method, path, status, fault.
fn summary(requests: &[RecordedRequest]) -> String {
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let fault = if r.fault { " (fault)" } else { "" };
            let wait = header(r, "retry-after").unwrap_or_default();
            format!(
                "{i:>3} {:>6}ms {} {} -> {}{fault} {wait}\n",
                r.at_ms, r.method, r.path, r.status
            )
        })
        .collect()
}

/// A header of a recorded request (names are recorded lower-case).
pub fn header<'a>(request: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// How many times each id was sent in the non-faulted requests that `ids_of` recognises.
pub fn count_sent<'a>(
    requests: impl IntoIterator<Item = &'a RecordedRequest>,
    ids_of: impl Fn(&RecordedRequest) -> Option<Vec<String>>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in requests.into_iter().filter(|r| !r.fault) {
        for id in ids_of(r).unwrap_or_default() {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

/// Every id of `expected` sent exactly once, and nothing else sent.
pub fn assert_each_sent_once(counts: &BTreeMap<String, usize>, expected: &BTreeSet<String>) {
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "ids retried more than once: {twice:?}");
    let sent: BTreeSet<String> = counts.keys().cloned().collect();
    let extra: Vec<_> = sent.difference(expected).collect();
    assert!(extra.is_empty(), "ineligible ids retried: {extra:?}");
    let missing: Vec<_> = expected.difference(&sent).collect();
    assert!(
        missing.is_empty(),
        "eligible ids never retried: {missing:?}"
    );
}

/// The ids (at `key`) of the tasks for which `keep` holds.
pub fn ids_where(tasks: &[Value], key: &str, keep: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    tasks
        .iter()
        .filter(|t| keep(t))
        .map(|t| text(&t[key]))
        .collect()
}

/// A JSON value as text: strings as they are, anything else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The tasks of `before` whose snapshot is different in `after`, by id at `key`.
pub fn changed(before: &[Value], after: &[Value], key: &str) -> BTreeSet<String> {
    let old: BTreeMap<String, &Value> = before.iter().map(|t| (text(&t[key]), t)).collect();
    after
        .iter()
        .filter(|t| old.get(&text(&t[key])).is_some_and(|o| *o != *t))
        .map(|t| text(&t[key]))
        .collect()
}

/// The task with id `id` (at `key`).
pub fn task<'a>(tasks: &'a [Value], key: &str, id: &str) -> &'a Value {
    tasks
        .iter()
        .find(|t| text(&t[key]) == id)
        .unwrap_or_else(|| panic!("no task {id}"))
}

/// An RFC 3339 text or epoch seconds.
pub fn timestamp(value: &Value) -> Timestamp {
    match value {
        Value::Number(n) => Timestamp::from_second(n.as_i64().expect("epoch seconds"))
            .expect("a timestamp in range"),
        // Skyvern writes UTC without an offset.
        Value::String(s) => {
            runbook::time::parse_timestamp_str(s).unwrap_or_else(|| panic!("{s}: not a timestamp"))
        }
        other => panic!("not a timestamp: {other}"),
    }
}

/// Whether `value` lies within the `days` before `now`. Panics when it lies so close to the edge
/// that the run's own clock could decide otherwise (the seed would have to change).
pub fn within_days(value: &Value, days: i64, now: Timestamp) -> bool {
    let edge = now - SignedDuration::from_hours(24 * days);
    let at = timestamp(value);
    let margin = SignedDuration::from_secs(60);
    assert!(
        at < edge - margin || at > edge + margin,
        "a seeded time {at} lies within a minute of the {days}-day edge; pick another seed"
    );
    at > edge
}

/// The report's item ids, all or those with `outcome`.
pub fn report_ids(ran: &Ran, outcome: Option<&str>) -> BTreeSet<String> {
    ran.report()["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .filter(|i| outcome.is_none_or(|o| i["outcome"] == o))
        .map(|i| text(&i["id"]))
        .collect()
}

/// The report agrees with the sandbox: it selected exactly the eligible tasks, and what it calls
/// retried is exactly what changed at the provider.
pub fn assert_report_matches(ran: &Ran, eligible: &BTreeSet<String>, changed: &BTreeSet<String>) {
    let report = ran.report();
    assert_eq!(report["aborted"], Value::Null, "{report:#}");
    assert_eq!(
        ran.total("selected"),
        eligible.len() as u64,
        "selected: {report:#}"
    );
    assert_eq!(&report_ids(ran, None), eligible, "the report's items");
    assert_eq!(
        ran.total("retried"),
        changed.len() as u64,
        "retried: {report:#}"
    );
    assert_eq!(
        &report_ids(ran, Some("retried")),
        changed,
        "the items reported retried are the tasks whose state changed"
    );
    assert_eq!(
        ran.total("retried") + ran.total("skipped") + ran.total("failed"),
        ran.total("selected"),
        "every selected item has an outcome: {report:#}"
    );
}
