//! Crash and resume: a run killed with SIGKILL while retries are in flight (the sandbox holds every
//! answer back, so a kill soon after the k-th retry request arrived lands with requests
//! unanswered), then `--resume`d — killed again in some trials — until a run finishes. The
//! sandbox's record must show every eligible task retried exactly once and no other task retried.
//!
//! The listing is frozen (`tasks.json`, see [`super::frozen_playbook`]): a resumed run sees the
//! tasks it already retried as still failed, so only the ledger keeps them from a second retry.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use runbook::ledger::{Ledger, Past};
use runbook::sandbox::Sandbox;

use super::{
    Bench, CHECK, POLL_LIMIT, frozen_playbook, history_rows, ids_with, retried_id, retries_per_id,
    retry_requests, sandbox, split_eligible,
};

/// How long the sandbox holds each answer back: long enough that a kill decided on the arrival
/// of a request lands before that request is answered.
pub(super) const LATENCY_MS: u64 = 300;

/// Start `runbook ARGS` and SIGKILL it once the sandbox has received `after` retry requests in
/// all. Returns the ids of the retry requests that were surely still unanswered at the kill: those
/// whose answer, held back `LATENCY_MS`, was due after the latest moment the kill can have landed
/// (the `after`-th arrival plus the time from the poll before it to the reaped kill).
pub(super) async fn kill_after(
    bench: &Bench,
    sandbox: &Sandbox,
    args: &[&str],
    after: usize,
) -> BTreeSet<String> {
    let mut child = bench.spawn(args);
    let start = tokio::time::Instant::now();
    // When the last poll that found fewer than `after` began: the `after`-th arrived later.
    let mut polled = tokio::time::Instant::now();
    let arrived = loop {
        let now = tokio::time::Instant::now();
        let seen = retry_requests(sandbox);
        if seen.len() >= after {
            break seen[after - 1].at_ms;
        }
        if let Some(status) = child.try_wait().expect("the run can be waited for") {
            let out = super::finish(child, args).await;
            panic!("the run ended ({status}) before {after} retry requests had arrived:\n{out:?}");
        }
        assert!(
            start.elapsed() < POLL_LIMIT,
            "fewer than {after} retry requests after {POLL_LIMIT:?}"
        );
        polled = now;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    };
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("the killed run is reaped");
    assert_eq!(status.code(), None, "the run was killed by a signal");
    let latest_kill = arrived + u64::try_from(polled.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
    retry_requests(sandbox)
        .iter()
        .filter(|r| r.at_ms + LATENCY_MS > latest_kill)
        .filter_map(retried_id)
        .collect()
}

/// The ids in flight (an intent without a result) in the newest unfinished run of the ledger.
pub(super) fn in_flight(bench: &Bench) -> BTreeSet<String> {
    let ledger = Ledger::open(&bench.path(".runbook/ledger.db")).expect("the ledger opens");
    let run = ledger
        .last_unfinished("nightly")
        .expect("the ledger reads")
        .expect("the killed run is unfinished");
    let past = ledger.past(&run).expect("the ledger reads");
    past.into_iter()
        .filter(|(_, p)| *p == Past::InFlight)
        .map(|(id, _)| id)
        .collect()
}

/// One trial: kill after each count of `kills` (cumulative retry requests), resume, and finally
/// resume to the end. The retry step has a `check:`, so in-flight retries are checked.
async fn kill_and_resume(kills: Vec<usize>) {
    let sandbox = sandbox(LATENCY_MS, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    let tasks = bench.freeze_listing(&sandbox);
    let (eligible, other) = split_eligible(&tasks);
    assert_eq!(
        eligible.len(),
        30,
        "the sandbox's seeded failed and timed-out tasks"
    );
    bench.write("playbook.yaml", &frozen_playbook("nightly", 4, CHECK));

    let mut in_flight_at_crash = BTreeSet::new();
    for (n, &after) in kills.iter().enumerate() {
        let args: &[&str] = if n == 0 {
            &["play", "playbook.yaml", "--quiet"]
        } else {
            &["play", "playbook.yaml", "--quiet", "--resume"]
        };
        let unanswered = kill_after(&bench, &sandbox, args, after).await;
        in_flight_at_crash = in_flight(&bench);
        assert!(
            !in_flight_at_crash.is_empty(),
            "trial {kills:?}: the kill after {after} retry requests found none in flight"
        );
        assert!(
            unanswered.is_subset(&in_flight_at_crash),
            "trial {kills:?}: retries unanswered at the kill {unanswered:?} are in flight in the ledger {in_flight_at_crash:?}"
        );
    }
    // An intent is recorded just before its request leaves: a kill can land in between, and then
    // the provider never saw it. Those the provider did see must be found carried out.
    let arrived: BTreeSet<String> = retry_requests(&sandbox)
        .iter()
        .filter_map(retried_id)
        .collect();
    let out = bench
        .run(&["play", "playbook.yaml", "--resume", "-o", "final.json"])
        .await;
    out.expect_code(0);

    let requests = retry_requests(&sandbox);
    let per_id = retries_per_id(&requests);
    let summary: Vec<String> = requests
        .iter()
        .map(|r| format!("{}ms {} -> {}", r.at_ms, r.path, r.status))
        .collect();
    for id in &eligible {
        assert_eq!(
            per_id.get(id),
            Some(&1),
            "trial {kills:?}: eligible task {id} retried once and once only:\n{summary:#?}"
        );
    }
    for id in &other {
        assert_eq!(
            per_id.get(id),
            None,
            "trial {kills:?}: {id} is not eligible"
        );
    }
    let after: Vec<serde_json::Value> = sandbox.tasks("http");
    for id in &eligible {
        let attempts = |list: &[serde_json::Value]| {
            list.iter()
                .find(|t| t["id"] == id.as_str())
                .and_then(|t| t["attempts"].as_u64())
                .expect("the task has attempts")
        };
        assert_eq!(
            attempts(&after),
            attempts(&tasks) + 1,
            "trial {kills:?}: {id}'s attempts at the sandbox went up by one"
        );
    }

    let history = bench.run(&["history"]).await;
    history.expect_code(0);
    let rows = history_rows(&history.stdout);
    assert_eq!(rows.len(), kills.len() + 1, "{}", history.stdout);
    assert_eq!(rows[0].1, "finished", "{}", history.stdout);
    for row in &rows[1..] {
        assert_eq!(
            row.1, "running",
            "a killed run never finished: {}",
            history.stdout
        );
    }
    assert!(
        rows[0].2.contains(&format!("(resumed {})", rows[1].0)),
        "{}",
        history.stdout
    );
    assert!(
        out.stderr.contains(&format!("resuming run {}", rows[1].0)),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("took over the lock"),
        "the killed run's lock is stale:\n{out:?}"
    );

    let report = bench.json("final.json");
    assert_eq!(report["aborted"], serde_json::Value::Null);
    assert_eq!(report["resumed_from"], rows[1].0.as_str());
    assert_eq!(report["run_id"], rows[0].0.as_str());
    let mut sorted = eligible.clone();
    sorted.sort();
    assert_eq!(ids_with(&report, "retried"), sorted, "{report:#}");
    assert_eq!(report["totals"]["retried"], 30);
    assert_eq!(report["totals"]["failed"], 0);
    assert_eq!(report["totals"]["unknown"], 0);
    for item in report["items"].as_array().expect("items") {
        let id = item["id"].as_str().unwrap_or_default();
        let message = item["message"].as_str().unwrap_or_default();
        let found_carried_out = message.contains("in flight when the resumed run stopped")
            && message.contains("carried out");
        if in_flight_at_crash.contains(id) {
            assert_eq!(
                found_carried_out,
                arrived.contains(id),
                "trial {kills:?}: {id} was in flight at the kill (it had reached the provider: {}); checked: {item}",
                arrived.contains(id)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_runs_resume_and_retry_every_eligible_task_exactly_once() {
    // Kill points (retry requests received in all): early, middle, late, and runs killed again
    // after they resumed.
    let trials = [vec![2], vec![13], vec![25], vec![3, 10], vec![6, 15, 24]];
    let handles: Vec<_> = trials
        .into_iter()
        .map(|kills| tokio::spawn(kill_and_resume(kills)))
        .collect();
    for result in join_all(handles).await {
        if let Err(e) = result {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Without a `check:`, a retry in flight at the crash cannot be checked: the resumed run reports
/// it `unknown` and does not send it; with `--retry-unknown` it sends it again.
async fn resume_without_check(retry_unknown: bool) {
    let sandbox = sandbox(LATENCY_MS, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    let tasks = bench.freeze_listing(&sandbox);
    let (eligible, other) = split_eligible(&tasks);
    bench.write("playbook.yaml", &frozen_playbook("nightly", 4, ""));

    let unanswered = kill_after(&bench, &sandbox, &["play", "playbook.yaml", "--quiet"], 9).await;
    let in_flight = in_flight(&bench);
    assert!(!in_flight.is_empty());
    assert!(
        unanswered.is_subset(&in_flight),
        "unanswered at the kill {unanswered:?} are in flight in the ledger {in_flight:?}"
    );

    let mut args = vec!["play", "playbook.yaml", "--resume", "-o", "resumed.json"];
    if retry_unknown {
        args.push("--retry-unknown");
    }
    let out = bench.run(&args).await;
    let report = bench.json("resumed.json");
    // Counted over both runs: which run sent a request that left just before the kill is not
    // knowable from the sandbox, but how often each task was sent is.
    let per_id = retries_per_id(&retry_requests(&sandbox));
    for id in &other {
        assert_eq!(per_id.get(id), None, "{id} is not eligible");
    }
    let outcome_of = |id: &str| {
        report["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["outcome"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    for id in &eligible {
        let sent = per_id.get(id).copied().unwrap_or(0);
        if !in_flight.contains(id) {
            assert_eq!(
                sent, 1,
                "{id}, answered before the crash or not sent yet, is sent once"
            );
        } else if !retry_unknown {
            // Not sent again; sent once, or never if the kill landed before it left.
            assert!(
                sent <= 1,
                "{id} was in flight and is not sent again: {sent}"
            );
        } else {
            // Sent again: the provider refuses it (409, skipped) if the first one reached it.
            let expected = if sent == 2 { "skipped" } else { "retried" };
            assert!((1..=2).contains(&sent), "{id} sent {sent} times");
            assert_eq!(outcome_of(id), expected, "{id} sent {sent} times in all");
        }
    }
    if retry_unknown {
        out.expect_code(0);
        assert!(ids_with(&report, "unknown").is_empty(), "{report:#}");
        assert_eq!(report["totals"]["failed"], 0, "{report:#}");
    } else {
        out.expect_code(1);
        let unknown: BTreeSet<String> = ids_with(&report, "unknown").into_iter().collect();
        assert_eq!(unknown, in_flight, "{report:#}");
        assert_eq!(report["totals"]["unknown"], in_flight.len());
        for item in report["items"].as_array().expect("items") {
            if item["outcome"] == "unknown" {
                let message = item["message"].as_str().unwrap_or_default();
                assert!(message.contains("cannot be checked"), "{item}");
            }
        }
    }
    assert!(report["resumed_from"].is_string(), "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_check_an_in_flight_retry_is_unknown_and_not_sent_again() {
    resume_without_check(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_unknown_sends_the_in_flight_retries_again() {
    resume_without_check(true).await;
}

/// Regression: a resumed run that checked an in-flight retry and found it carried out did not
/// record that, so a run resuming *it* checked again — and by then the retried work had failed
/// anew, looked never retried, and was retried a second time. Every task here is one whose retry
/// the sandbox settles to failure, and the sandbox shows it settled from the second read on.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_found_carried_out_is_not_checked_again_by_the_next_resume() {
    let sandbox = sandbox(LATENCY_MS, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    let doomed: Vec<serde_json::Value> = sandbox
        .tasks("http")
        .into_iter()
        .filter(|t| t["sandbox_settles_to"] == "failed")
        .collect();
    assert!(doomed.len() >= 4, "{doomed:#?}");
    bench.write("tasks.json", &serde_json::to_string(&doomed).expect("JSON"));
    bench.write("playbook.yaml", &frozen_playbook("nightly", 2, CHECK));
    kill_after(&bench, &sandbox, &["play", "playbook.yaml", "--quiet"], 1).await;
    let first_in_flight = in_flight(&bench);
    let sent = retry_requests(&sandbox).len();
    // The resumed run checks those (one read each: running, carried out), then sends one more.
    let args = ["play", "playbook.yaml", "--quiet", "--resume"];
    kill_after(&bench, &sandbox, &args, sent + 1).await;
    let out = bench
        .run(&["play", "playbook.yaml", "--resume", "-o", "final.json"])
        .await;
    out.expect_code(0);
    let per_id = retries_per_id(&retry_requests(&sandbox));
    for task in &doomed {
        let id = task["id"].as_str().expect("an id");
        assert_eq!(
            per_id.get(id),
            Some(&1),
            "{id} retried once in all; in flight at the first kill: {first_in_flight:?}"
        );
    }
}

/// The Beam adapter end to end: its own list shape, retry request (`POST /agent-tasks/retry`,
/// `{"taskId"}`) and get-one request as the check. The listing is frozen as above.
async fn beam_kill_and_resume(kills: Vec<usize>) {
    const RETRYABLE: [&str; 4] = ["FAILED", "ERROR", "STOPPED", "TIMEOUT"];
    let sandbox = sandbox(LATENCY_MS, 1).await;
    let credential = |name: &str| {
        sandbox
            .credentials()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .expect("a sandbox credential")
    };
    let bench = Bench::new()
        .env("BEAM_BASE_URL", &sandbox.base_url("beam").expect("/beam"))
        .env("BEAM_API_KEY", &credential("BEAM_API_KEY"))
        .env("BEAM_WORKSPACE_ID", &credential("BEAM_WORKSPACE_ID"));
    let tasks: Vec<serde_json::Value> = sandbox
        .tasks("beam")
        .into_iter()
        .filter(|t| t["agentId"] == "agent-sandbox-1")
        .collect();
    let eligible: BTreeSet<String> = tasks
        .iter()
        .filter(|t| RETRYABLE.iter().any(|s| t["status"] == *s))
        .map(|t| t["id"].as_str().expect("an id").to_string())
        .collect();
    assert!(eligible.len() >= 10, "{eligible:?}");
    bench.write("tasks.json", &serde_json::to_string(&tasks).expect("JSON"));
    bench.write(
        "playbook.yaml",
        r#"name: beam-frozen
provider: beam
connection:
  options: {workspace: bid}
steps:
  - name: listed
    fetch: {file: tasks.json}
  - name: selected
    filter: {status_in: [FAILED, ERROR, STOPPED, TIMEOUT]}
  - name: retried
    retry: {concurrency: 4}
"#,
    );
    let beam_retries = || -> Vec<String> {
        sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/agent-tasks/retry" && !r.fault)
            .filter_map(|r| {
                let body: serde_json::Value = serde_json::from_str(&r.body).ok()?;
                Some(body["taskId"].as_str()?.to_string())
            })
            .collect()
    };
    for (n, &after) in kills.iter().enumerate() {
        let mut args = vec!["play", "playbook.yaml", "--quiet"];
        if n > 0 {
            args.push("--resume");
        }
        let mut child = bench.spawn(&args);
        super::wait_until("Beam retries", || beam_retries().len() >= after).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("the killed run is reaped");
    }
    let out = bench
        .run(&["play", "playbook.yaml", "--resume", "-o", "final.json"])
        .await;
    out.expect_code(0);
    let mut per_id: std::collections::BTreeMap<String, usize> = Default::default();
    for id in beam_retries() {
        *per_id.entry(id).or_default() += 1;
    }
    let sent: BTreeSet<String> = per_id.keys().cloned().collect();
    assert_eq!(
        sent, eligible,
        "trial {kills:?}: exactly the eligible tasks"
    );
    assert!(
        per_id.values().all(|n| *n == 1),
        "trial {kills:?}: each retried once: {per_id:?}"
    );
    let report = bench.json("final.json");
    assert_eq!(report["totals"]["retried"], eligible.len(), "{report:#}");
    assert!(report["resumed_from"].is_string());
    let checked = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| {
            i["message"]
                .as_str()
                .is_some_and(|m| m.contains("the provider now shows IN_PROGRESS"))
        })
        .count();
    assert!(
        checked > 0,
        "trial {kills:?}: in-flight retries were checked with Beam's get-one: {report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_beam_runs_resume_with_beams_own_check() {
    let trials = [vec![3], vec![2, 7]];
    let handles: Vec<_> = trials
        .into_iter()
        .map(|kills| tokio::spawn(beam_kill_and_resume(kills)))
        .collect();
    for result in join_all(handles).await {
        if let Err(e) = result {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}
