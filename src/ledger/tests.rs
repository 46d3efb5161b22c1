//! The ledger's own tests: intents and results, resume, lineage, migration.

use super::*;
use crate::report::ItemOutcome;

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Record the intent of a retry of `items` in run `run`; its request id.
fn intent(ledger: &Ledger, run: &str, provider: &str, items: &[&str], at: &str) -> i64 {
    ledger
        .intent(&Intent {
            run_id: run,
            step: "retry",
            provider,
            item_ids: &ids(items),
            method: "POST",
            url: "u",
            at,
        })
        .unwrap()
}

#[test]
fn intent_without_result_is_in_flight_and_results_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("sub/ledger.db")).unwrap();
    ledger
        .start_run("r1", "nightly", "beam", "2026-11-23T00:00:00Z", false, None)
        .unwrap();
    let a = intent(&ledger, "r1", "beam", &["t1"], "2026-11-23T00:00:01Z");
    ledger
        .result(
            a,
            Some(201),
            &[("t1".into(), ItemOutcome::Retried, None)],
            "2026-11-23T00:00:02Z",
        )
        .unwrap();
    intent(&ledger, "r1", "beam", &["t2"], "2026-11-23T00:00:03Z");
    assert_eq!(
        ledger.last_unfinished("nightly").unwrap().as_deref(),
        Some("r1")
    );
    let past = ledger.past("r1").unwrap();
    assert_eq!(
        past["t1"],
        Past::Done {
            outcome: ItemOutcome::Retried,
            message: None
        }
    );
    assert_eq!(past["t2"], Past::InFlight);
    assert_eq!(
        ledger
            .retries_since("beam", "t1", "2026-11-22T00:00:00Z")
            .unwrap(),
        1
    );
    assert_eq!(
        ledger
            .retries_since("beam", "t1", "2026-11-24T00:00:00Z")
            .unwrap(),
        0
    );
    ledger
        .finish_run(
            "r1",
            "finished",
            "2026-11-23T00:01:00Z",
            [2, 2, 1, 0, 0],
            "{}",
            0,
        )
        .unwrap();
    assert_eq!(ledger.last_unfinished("nightly").unwrap(), None);
    assert_eq!(ledger.report("r1").unwrap().as_deref(), Some("{}"));
}

#[test]
fn a_resumed_run_sees_what_its_predecessors_did() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
    ledger
        .start_run("r1", "p", "http", "2026-11-23T00:00:00Z", false, None)
        .unwrap();
    let a = intent(&ledger, "r1", "http", &["a", "b"], "2026-11-23T00:00:01Z");
    ledger
        .result(
            a,
            Some(200),
            &[
                ("a".into(), ItemOutcome::Retried, None),
                ("b".into(), ItemOutcome::Skipped, Some("no".into())),
            ],
            "2026-11-23T00:00:02Z",
        )
        .unwrap();
    ledger
        .start_run("r2", "p", "http", "2026-11-23T01:00:00Z", false, Some("r1"))
        .unwrap();
    intent(&ledger, "r2", "http", &["c"], "2026-11-23T01:00:01Z");
    let past = ledger.past("r2").unwrap();
    assert_eq!(past.len(), 3);
    assert_eq!(past["c"], Past::InFlight);
    ledger
        .resolve_in_flight("r2", "http", "c", ItemOutcome::Retried, Some("checked"))
        .unwrap();
    assert_eq!(
        ledger.past("r2").unwrap()["c"],
        Past::Done {
            outcome: ItemOutcome::Retried,
            message: Some("checked".into())
        }
    );
    assert_eq!(
        ledger
            .retries_since("http", "c", "2026-11-23T00:00:00Z")
            .unwrap(),
        1,
        "a resolved intent is still one retry"
    );
    let runs = ledger.runs(Some("p"), 10).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r2", "r1"]
    );
}

#[test]
fn links_make_chains_followed_both_ways_and_budgets_count_the_whole_chain() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
    let retry = |run: &str, id: &str, new_id: &str, at: &str| {
        ledger
            .start_run(run, "p", "skyvern", at, false, None)
            .unwrap();
        let request = intent(&ledger, run, "skyvern", &[id], at);
        let link = Link {
            provider: "skyvern",
            item_id: id,
            new_id,
        };
        ledger
            .result_linked(
                request,
                Some(200),
                &[(id.into(), ItemOutcome::Retried, None)],
                &[link],
                at,
            )
            .unwrap();
    };
    retry("r1", "wr_a", "wr_b", "2026-11-23T00:00:00Z");
    retry("r2", "wr_b", "wr_c", "2026-11-24T00:00:00Z");
    let chain = ids(&["wr_a", "wr_b", "wr_c"]);
    for id in &chain {
        assert_eq!(ledger.lineage("skyvern", id).unwrap().chain, chain, "{id}");
    }
    assert_eq!(
        ledger.lineage("skyvern", "wr_a").unwrap().next,
        Some(Retried {
            new_id: "wr_b".into(),
            run_id: "r1".into()
        })
    );
    assert_eq!(ledger.lineage("skyvern", "wr_c").unwrap().next, None);
    assert_eq!(
        ledger.lineage("other", "wr_a").unwrap().chain,
        ids(&["wr_a"]),
        "chains are per provider"
    );
    assert_eq!(
        ledger
            .chain_retries_since("skyvern", &chain, "2026-11-01T00:00:00Z")
            .unwrap(),
        2
    );
    assert_eq!(
        ledger.links_of_run("r2").unwrap(),
        [("wr_b".to_string(), "wr_c".to_string())]
    );
    // An older ledger opens again with its links kept.
    drop(ledger);
    let again = Ledger::open(&dir.path().join("ledger.db")).unwrap();
    assert_eq!(again.lineage("skyvern", "wr_b").unwrap().chain, chain);
}

#[test]
fn a_link_back_to_an_earlier_id_ends_the_chain_instead_of_looping() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
    ledger
        .start_run("r1", "p", "x", "2026-11-23T00:00:00Z", false, None)
        .unwrap();
    for (id, new_id) in [("a", "b"), ("b", "a")] {
        let request = intent(&ledger, "r1", "x", &[id], "2026-11-23T00:00:01Z");
        let link = Link {
            provider: "x",
            item_id: id,
            new_id,
        };
        ledger
            .result_linked(request, Some(200), &[], &[link], "2026-11-23T00:00:02Z")
            .unwrap();
    }
    let lineage = ledger.lineage("x", "a").unwrap();
    assert_eq!(lineage.chain, ids(&["b", "a"]));
}

#[test]
fn a_ledger_from_before_lineage_gets_its_links_from_the_stored_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = Ledger::open(&path).unwrap();
    ledger
        .start_run("r1", "p", "skyvern", "2026-11-23T00:00:00Z", false, None)
        .unwrap();
    let request = intent(&ledger, "r1", "skyvern", &["wr_a"], "2026-11-23T00:00:01Z");
    ledger
        .result(
            request,
            Some(200),
            &[("wr_a".into(), ItemOutcome::Retried, None)],
            "2026-11-23T00:00:02Z",
        )
        .unwrap();
    let report = r#"{"items": [
        {"id": "wr_a", "outcome": "retried", "new_id": "wr_b"},
        {"id": "wr_x", "outcome": "skipped", "new_id": null},
        {"id": "wr_z", "outcome": "retried", "new_id": "wr_y"}
    ]}"#;
    ledger
        .finish_run(
            "r1",
            "finished",
            "2026-11-23T00:01:00Z",
            [3, 3, 1, 1, 0],
            report,
            0,
        )
        .unwrap();
    ledger.conn().execute_batch("DROP TABLE links").unwrap();
    drop(ledger);

    let ledger = Ledger::open(&path).unwrap();
    let lineage = ledger.lineage("skyvern", "wr_a").unwrap();
    assert_eq!(lineage.chain, ids(&["wr_a", "wr_b"]));
    assert_eq!(lineage.next.map(|n| n.run_id).as_deref(), Some("r1"));
    assert_eq!(
        ledger.links_of_run("r1").unwrap().len(),
        1,
        "an item with no request of its own in the run gets no link"
    );
    drop(ledger);
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.links_of_run("r1").unwrap().len(), 1, "migrated once");
}

/// Issue 9: a result's `UPDATE … WHERE request_id = ? AND item_id = ?` scanned the whole table, so
/// the cost of each item grew with the ledger. Every statement run per item, per run or per chain
/// must find its rows through an index.
#[test]
fn every_per_item_statement_finds_its_rows_through_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
    let conn = ledger.conn();
    let statements = items::per_item_statements()
        .into_iter()
        .chain(links::lookup_statements())
        .chain([runs::ITEMS_OF_RUN]);
    for sql in statements {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut rows = stmt.raw_query();
        let mut plan = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            plan.push(row.get::<_, String>(3).unwrap());
        }
        let scans: Vec<&String> = plan
            .iter()
            .filter(|step| step.starts_with("SCAN") && !is_small_scan(step))
            .collect();
        assert!(scans.is_empty(), "{sql}\nscans a table: {plan:#?}");
    }
}

/// Scans that do not grow with the ledger: the ids handed in as a JSON array, a recursive
/// query's own rows (a run and the runs it resumed).
fn is_small_scan(step: &str) -> bool {
    let scanned = step.split_whitespace().nth(1).unwrap_or_default();
    step.contains("json_each") || ["chain", "c", "CONSTANT"].contains(&scanned)
}

/// A ledger written before the indexes of issue 9 gains them when it is next opened.
#[test]
fn an_older_ledger_gains_the_lookup_indexes_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(Ledger::open(&path).unwrap());
    let added = [
        "request_items_by_request",
        "requests_by_run",
        "links_by_request",
    ];
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for index in added {
            conn.execute_batch(&format!("DROP INDEX {index}")).unwrap();
        }
    }
    let ledger = Ledger::open(&path).unwrap();
    let conn = ledger.conn();
    for index in added {
        let found: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [index],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "{index} was not created on open");
    }
}

/// The run's report and the exit code it implies are written together; recording the final code
/// writes the row (and its report) again only when writing the report files changed the code.
#[test]
fn the_exit_code_is_stored_with_the_report_and_written_again_only_when_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
    ledger
        .start_run("r1", "nightly", "beam", "2026-11-23T00:00:00Z", false, None)
        .unwrap();
    ledger
        .finish_run(
            "r1",
            "finished",
            "2026-11-23T00:01:00Z",
            [1, 1, 1, 0, 0],
            "{}",
            0,
        )
        .unwrap();
    let code = |ledger: &Ledger| -> Option<i32> {
        ledger
            .conn()
            .query_row("SELECT exit_code FROM runs WHERE id = 'r1'", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(code(&ledger), Some(0));
    let changes = |ledger: &Ledger| ledger.conn().total_changes();
    let before = changes(&ledger);
    ledger.record_exit_code("r1", 0).unwrap();
    assert_eq!(changes(&ledger), before, "the same code was written again");
    ledger.record_exit_code("r1", 1).unwrap();
    assert_eq!(changes(&ledger), before + 1);
    assert_eq!(code(&ledger), Some(1));
}
