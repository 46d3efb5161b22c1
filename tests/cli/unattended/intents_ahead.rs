//! Intents ahead of the sending slots (issue 9): with no rate, a retry step records up to eight
//! intents per sending slot (at most 64) ahead of their turn, so the ledger's commit is off the
//! request's critical path. A run killed then leaves intents in flight whose requests never left; `--resume` checks
//! them with the provider and sends each eligible task exactly once.
//!
//! The listing is frozen, as in [`super::crash`]: only the ledger keeps a resumed run from
//! retrying a task twice.

use std::collections::BTreeSet;

use runbook::ledger::{Ledger, Past};

use super::crash::LATENCY_MS;
use super::{
    Bench, CHECK, frozen_playbook, retried_id, retries_per_id, retry_requests, sandbox,
    split_eligible, wait_until,
};

const CONCURRENCY: usize = 4;
/// Intents ahead of the slots at [`CONCURRENCY`]: eight per slot (the README's `--resume`).
const AHEAD: usize = 8 * CONCURRENCY;

/// The ids with an intent and no answer in the newest unfinished run, read while that run may
/// still be writing (empty before its first intent).
fn in_flight_now(bench: &Bench) -> BTreeSet<String> {
    let Ok(ledger) = Ledger::open_to_read(&bench.path(".runbook/ledger.db")) else {
        return BTreeSet::new();
    };
    let Ok(Some(run)) = ledger.last_unfinished("nightly") else {
        return BTreeSet::new();
    };
    ledger
        .past(&run)
        .map(|past| {
            past.into_iter()
                .filter(|(_, p)| *p == Past::InFlight)
                .map(|(id, _)| id)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_with_intents_ahead_is_resumed_sending_each_retry_exactly_once() {
    let sandbox = sandbox(LATENCY_MS, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    let tasks = bench.freeze_listing(&sandbox);
    let (eligible, other) = split_eligible(&tasks);
    bench.write(
        "playbook.yaml",
        &frozen_playbook("nightly", CONCURRENCY, CHECK),
    );

    let mut child = bench.spawn(&["play", "playbook.yaml", "--quiet"]);
    // The sandbox holds every answer back, so until the first answers no intent is answered:
    // more intents in flight than sending slots means some went ahead of their turn.
    wait_until("intents ahead of the sending slots", || {
        in_flight_now(&bench).len() > CONCURRENCY
    })
    .await;
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("the killed run is reaped");
    assert_eq!(status.code(), None, "the run was killed by a signal");

    let in_flight = in_flight_now(&bench);
    let received: BTreeSet<String> = retry_requests(&sandbox)
        .iter()
        .filter_map(retried_id)
        .collect();
    assert!(
        received.is_subset(&in_flight),
        "every retry the provider received had its intent committed first: {received:?} in {in_flight:?}"
    );
    assert!(
        in_flight.len() <= CONCURRENCY + AHEAD,
        "at most {CONCURRENCY} requests out and {AHEAD} intents ahead: {in_flight:?}"
    );

    let out = bench
        .run(&["play", "playbook.yaml", "--resume", "-o", "final.json"])
        .await;
    out.expect_code(0);
    let per_id = retries_per_id(&retry_requests(&sandbox));
    for id in &eligible {
        assert_eq!(
            per_id.get(id),
            Some(&1),
            "eligible task {id} retried once and once only: {per_id:?}"
        );
    }
    for id in &other {
        assert_eq!(per_id.get(id), None, "{id} is not eligible");
    }
    let report = bench.json("final.json");
    assert_eq!(report["totals"]["retried"], eligible.len(), "{report:#}");
    assert_eq!(report["totals"]["unknown"], 0, "{report:#}");
}
