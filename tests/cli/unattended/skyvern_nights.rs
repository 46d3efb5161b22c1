//! Issue 13's own test: `playbooks/skyvern-failed.yaml` played three nights in a row against one
//! sandbox and one ledger. A Skyvern retry creates a new run and leaves the original failed, so
//! without lineage every night retried every original again plus every new run that failed
//! (5 → 8 → 14 on the real server). With it: night 1 retries each failed run once; night 2 only
//! the heads of the chains whose new run failed; night 3 finds those chains at their budget
//! (2 retries a week) and sends nothing.
//!
//! A "night" is one play of the binary. Between nights the test plays Skyvern's workers: it reads
//! every new run through `GET /v1/runs/{id}` until it settles (the sandbox settles a new run on its
//! reads; how it ends is the seed's, the same along a chain of retries).

use std::collections::{BTreeMap, BTreeSet};

use runbook::sandbox::{Sandbox, SandboxConfig, SkyvernRefusal};
use serde_json::Value;

use super::{Bench, ids_with};
use crate::repo_path;

const KEY: &str = "workflow_run_id";

fn bench(sandbox: &Sandbox) -> Bench {
    let key = sandbox
        .credentials()
        .into_iter()
        .find(|(name, _)| name == "SKYVERN_API_KEY")
        .map(|(_, value)| value)
        .expect("the sandbox has a Skyvern key");
    Bench::new()
        .env(
            "SKYVERN_BASE_URL",
            &sandbox
                .base_url("skyvern")
                .expect("the sandbox serves /skyvern"),
        )
        .env("SKYVERN_API_KEY", &key)
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// The runs retried so far (the `{id}` of each `POST /v1/agents/runs/{id}/retry`), in order.
fn retried(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.api == "skyvern" && r.method == "POST")
        .filter_map(|r| {
            r.path
                .strip_prefix("/v1/agents/runs/")?
                .strip_suffix("/retry")
                .map(str::to_string)
        })
        .collect()
}

/// Skyvern's workers between two nights: read every new run until it reaches a final status.
async fn settle_new_runs(sandbox: &Sandbox) {
    let base = sandbox.base_url("skyvern").expect("skyvern");
    let client = reqwest::Client::new();
    let new_runs: Vec<String> = sandbox
        .tasks("skyvern")
        .iter()
        .filter(|t| !t["sandbox_retry_of"].is_null())
        .map(|t| text(&t[KEY]))
        .collect();
    for id in new_runs {
        for read in 0.. {
            assert!(read < 10, "new run {id} never settled");
            let run: Value = client
                .get(format!("{base}/v1/runs/{id}"))
                .header("x-api-key", "sk_sandbox_skyvern_key")
                .send()
                .await
                .expect("the sandbox answers")
                .json()
                .await
                .expect("a JSON run");
            if ["completed", "failed"].contains(&run["status"].as_str().unwrap_or_default()) {
                break;
            }
        }
    }
}

/// Each report item's (outcome, chain), by id.
fn items(report: &Value) -> BTreeMap<String, (String, Vec<String>)> {
    report["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .map(|i| {
            let chain = i["chain"]
                .as_array()
                .map(|c| c.iter().map(text).collect())
                .unwrap_or_default();
            (text(&i["id"]), (text(&i["outcome"]), chain))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nights_retry_each_failed_run_once_then_only_failed_chain_heads_within_the_budget() {
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("the sandbox starts");
    let before = sandbox.tasks("skyvern");
    let eligible: BTreeSet<String> = before
        .iter()
        .filter(|t| t["status"] == "failed" || t["status"] == "timed_out")
        .filter(|t| {
            let at =
                runbook::time::parse_timestamp_str(&text(&t["created_at"])).expect("a timestamp");
            jiff::Timestamp::now().duration_since(at) < jiff::SignedDuration::from_hours(72)
        })
        .map(|t| text(&t[KEY]))
        .collect();
    let doomed: BTreeSet<String> = before
        .iter()
        .filter(|t| eligible.contains(&text(&t[KEY])) && t["sandbox_settles_to"] == "failed")
        .map(|t| text(&t[KEY]))
        .collect();
    assert_eq!(eligible.len(), 10, "7 failed and 3 timed-out recent runs");
    assert!(
        !doomed.is_empty() && doomed.len() < eligible.len(),
        "the seed makes some retries fail again and others recover: {doomed:?}"
    );
    let bench = bench(&sandbox);
    let playbook = repo_path("playbooks/skyvern-failed.yaml")
        .display()
        .to_string();
    let play = |report: &'static str| {
        let args = ["play", playbook.as_str(), "-o", report];
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let bench = &bench;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            bench.run(&args).await
        }
    };

    // Night 1: every eligible run retried once, each into one new run.
    play("night1.json").await.expect_code(0);
    let night1_sent = retried(&sandbox);
    assert_eq!(
        night1_sent.iter().cloned().collect::<BTreeSet<_>>(),
        eligible
    );
    assert_eq!(night1_sent.len(), eligible.len(), "each sent once");
    let night1 = bench.json("night1.json");
    let first_new: BTreeMap<String, String> = items(&night1)
        .into_iter()
        .map(|(id, (outcome, chain))| {
            assert_eq!(outcome, "retried", "{id}");
            assert_eq!(chain.len(), 2, "{id}: {chain:?}");
            (id, chain[1].clone())
        })
        .collect();
    settle_new_runs(&sandbox).await;

    // Night 2: the originals are skipped (their chain went on); only the new runs that failed —
    // the heads of the doomed chains — are retried.
    play("night2.json").await.expect_code(0);
    let night2_sent: BTreeSet<String> = retried(&sandbox)[night1_sent.len()..]
        .iter()
        .cloned()
        .collect();
    let doomed_heads: BTreeSet<String> = doomed.iter().map(|id| first_new[id].clone()).collect();
    assert_eq!(night2_sent, doomed_heads);
    assert_eq!(
        retried(&sandbox).len(),
        eligible.len() + doomed.len(),
        "each head sent once"
    );
    let night2 = bench.json("night2.json");
    assert_eq!(
        ids_with(&night2, "skipped"),
        eligible.iter().cloned().collect::<Vec<_>>()
    );
    let by_id = items(&night2);
    for id in &doomed {
        let head = &first_new[id];
        assert_eq!(by_id[head].0, "retried", "{head}");
        assert_eq!(by_id[head].1.len(), 3, "{:?}", by_id[head].1);
        assert_eq!(&by_id[head].1[..2], [id.clone(), head.clone()]);
    }
    settle_new_runs(&sandbox).await;

    // Night 3: the doomed chains had their two retries this week: chronic, nothing sent.
    play("night3.json").await.expect_code(0);
    assert_eq!(
        retried(&sandbox).len(),
        eligible.len() + doomed.len(),
        "nothing sent on night 3"
    );
    let night3 = bench.json("night3.json");
    let chronic = ids_with(&night3, "chronic");
    assert_eq!(chronic.len(), doomed.len(), "{night3:#}");
    for (id, (outcome, chain)) in items(&night3) {
        if outcome == "chronic" {
            assert_eq!(chain.len(), 3, "{id}: {chain:?}");
            assert!(doomed.contains(&chain[0]), "{id}: {chain:?}");
            assert_eq!(chain[2], id);
        } else {
            assert_eq!(outcome, "skipped", "{id}");
        }
    }
    assert_eq!(ids_with(&night3, "retried"), Vec::<String>::new());
    sandbox.shutdown().await;
}

/// Skyvern's other 400s (a block-scoped run, a browser session without an address) are `failed`
/// with the server's reason; the rest of the night goes on.
#[tokio::test(flavor = "multi_thread")]
async fn skyvern_refusals_are_failed_with_the_servers_reason() {
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("the sandbox starts");
    let recent_failed: Vec<String> = sandbox
        .tasks("skyvern")
        .iter()
        .filter(|t| t["status"] == "failed")
        .map(|t| text(&t[KEY]))
        .take(2)
        .collect();
    sandbox.set_skyvern_refusal(&recent_failed[0], SkyvernRefusal::BlockScoped);
    sandbox.set_skyvern_refusal(&recent_failed[1], SkyvernRefusal::MissingBrowserAddress);
    let bench = bench(&sandbox);
    let playbook = repo_path("playbooks/skyvern-failed.yaml")
        .display()
        .to_string();
    let out = bench
        .run(&["play", playbook.as_str(), "-o", "report.json"])
        .await;
    out.expect_code(1);
    let report = bench.json("report.json");
    let item = |id: &str| {
        report["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no item {id} in {report:#}"))
    };
    let block = item(&recent_failed[0]);
    assert_eq!(block["outcome"], "failed");
    assert_eq!(
        block["message"],
        "HTTP 400: Block-scoped workflow runs cannot be retried with this endpoint"
    );
    let browser = item(&recent_failed[1]);
    assert_eq!(browser["outcome"], "failed");
    assert_eq!(
        browser["message"],
        "HTTP 400: Browser session pbs_sandbox_gone does not have an address."
    );
    assert_eq!(ids_with(&report, "failed").len(), 2);
    assert!(
        out.stdout
            .contains("HTTP 400: Block-scoped workflow runs cannot be retried"),
        "{out:?}"
    );
    sandbox.shutdown().await;
}
