//! Crash and resume with group commit (issue 9): at concurrency 16 the workers' intents are
//! committed together, many to a transaction. A run killed mid-way must still have the intent of
//! every retry the provider received in its ledger, and `--resume` must never send again an item
//! whose intent was committed — answered or in flight.
//!
//! The listing is frozen, as in [`super::crash`]: only the ledger keeps a resumed run from
//! retrying a task twice.

use std::collections::BTreeSet;

use runbook::ledger::Ledger;

use super::crash::{LATENCY_MS, in_flight, kill_after};
use super::{Bench, frozen_playbook, retries_per_id, retry_requests, sandbox, split_eligible};

/// The ids the newest unfinished run of the ledger has an intent for, answered or not.
fn committed(bench: &Bench) -> BTreeSet<String> {
    let ledger = Ledger::open(&bench.path(".runbook/ledger.db")).expect("the ledger opens");
    let run = ledger
        .last_unfinished("nightly")
        .expect("the ledger reads")
        .expect("the killed run is unfinished");
    ledger
        .past(&run)
        .expect("the ledger reads")
        .into_keys()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_while_intents_are_grouped_never_sends_a_committed_intent_again() {
    let sandbox = sandbox(LATENCY_MS, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    let tasks = bench.freeze_listing(&sandbox);
    let (eligible, other) = split_eligible(&tasks);
    bench.write("playbook.yaml", &frozen_playbook("nightly", 16, ""));

    // The first 16 leave together; the kill lands while the second wave is in flight.
    let unanswered = kill_after(&bench, &sandbox, &["play", "playbook.yaml", "--quiet"], 20).await;
    let committed = committed(&bench);
    let in_flight = in_flight(&bench);
    assert!(
        unanswered.is_subset(&in_flight),
        "retries unanswered at the kill {unanswered:?} are in flight in the ledger {in_flight:?}"
    );
    let received: BTreeSet<String> = retries_per_id(&retry_requests(&sandbox))
        .into_keys()
        .collect();
    assert!(received.len() >= 20, "{received:?}");
    let missing: Vec<&String> = received.difference(&committed).collect();
    assert!(
        missing.is_empty(),
        "every retry the provider received had its intent committed first: {missing:?}"
    );

    let out = bench
        .run(&[
            "play",
            "playbook.yaml",
            "--quiet",
            "--resume",
            "-o",
            "resumed.json",
        ])
        .await;
    let report = bench.json("resumed.json");
    assert!(report["resumed_from"].is_string(), "{out:?}");
    let per_id = retries_per_id(&retry_requests(&sandbox));
    for id in &committed {
        assert!(
            per_id.get(id).copied().unwrap_or(0) <= 1,
            "{id}'s intent was committed before the kill: never sent again ({per_id:?})"
        );
    }
    for id in eligible.iter().filter(|id| !committed.contains(*id)) {
        assert_eq!(per_id.get(id), Some(&1), "{id} was left to the resumed run");
    }
    for id in &other {
        assert_eq!(per_id.get(id), None, "{id} is not eligible");
    }
}
