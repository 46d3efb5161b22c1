//! `runbook history --json` and the exit code in the ledger: each run is recorded with the code
//! it ended with, shown in the table's `exit` column and in one JSON object per line; a ledger
//! from before the column gains it, its older runs' codes unknown (null, `-`).

use std::path::Path;

use serde_json::Value;

use crate::new_playbooks::run_in;

const LEDGER: &str = ".runbook/sandbox-ledger.db";

/// A one-off retry of the sandbox's Herodotus task that retries cleanly (exit 0).
fn clean_run(dir: &Path) {
    let args = [
        "retry",
        "herodotus",
        "01KDTYS38NT624Z3450ZQP6227",
        "--sandbox",
        "--quiet",
    ];
    run_in(dir, &args).expect_code(0);
}

/// A one-off retry of GeeLark's first failed task, which the sandbox refuses (retry limit
/// reached: exit 1).
fn failing_run(dir: &Path) {
    let args = [
        "retry",
        "geelark",
        "558736413103567639",
        "--sandbox",
        "--quiet",
    ];
    run_in(dir, &args).expect_code(1);
}

fn two_runs(dir: &Path) {
    clean_run(dir);
    failing_run(dir);
}

fn history_json(dir: &Path) -> Vec<Value> {
    let ran = run_in(dir, &["history", "--ledger", LEDGER, "--json"]);
    ran.expect_code(0);
    ran.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn each_run_is_one_json_object_with_its_exit_code_and_duration() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    two_runs(dir.path());
    let runs = history_json(dir.path());
    assert_eq!(runs.len(), 2, "{runs:#?}");
    // Newest first.
    let (geelark, herodotus) = (&runs[0], &runs[1]);
    assert_eq!(geelark["playbook"], "retry-geelark");
    assert_eq!(geelark["exit_code"], 1);
    assert_eq!(geelark["counts"]["failed"], 1);
    assert_eq!(herodotus["playbook"], "retry-herodotus");
    assert_eq!(herodotus["exit_code"], 0);
    assert_eq!(herodotus["counts"]["retried"], 1);
    for run in &runs {
        let keys: Vec<&str> = run
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "playbook",
                "state",
                "dry_run",
                "started",
                "finished",
                "duration_seconds",
                "exit_code",
                "resumed_from",
                "counts"
            ]
        );
        let started: jiff::Timestamp = run["started"]
            .as_str()
            .expect("started")
            .parse()
            .expect("RFC 3339");
        let finished: jiff::Timestamp = run["finished"]
            .as_str()
            .expect("finished")
            .parse()
            .expect("RFC 3339");
        let seconds = run["duration_seconds"].as_f64().expect("a duration");
        assert_eq!(seconds, finished.duration_since(started).as_secs_f64());
        assert_eq!(run["state"], "finished");
    }
}

#[test]
fn the_table_shows_the_exit_code() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    two_runs(dir.path());
    let ran = run_in(dir.path(), &["history", "--ledger", LEDGER]);
    ran.expect_code(0);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(lines[0].ends_with(" failed exit"), "{}", ran.stdout);
    let exits: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(10).unwrap_or_default())
        .collect();
    assert_eq!(exits, ["1", "0"], "{}", ran.stdout);
}

#[test]
fn a_ledger_from_before_exit_codes_gains_the_column() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    clean_run(dir);
    // Make it a ledger of before: no exit_code column.
    let ledger = rusqlite::Connection::open(dir.join(LEDGER)).expect("ledger");
    ledger
        .execute_batch("ALTER TABLE runs DROP COLUMN exit_code")
        .expect("drop the column");
    drop(ledger);
    // Read as it is (history opens it only to read): the old run's code is unknown.
    let runs = history_json(dir);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["exit_code"], Value::Null);
    let table = run_in(dir, &["history", "--ledger", LEDGER]);
    assert!(
        table
            .stdout
            .lines()
            .nth(1)
            .unwrap_or_default()
            .ends_with(" -"),
        "{}",
        table.stdout
    );
    // A run migrates it and records its own code.
    failing_run(dir);
    let runs = history_json(dir);
    let codes: Vec<&Value> = runs.iter().map(|r| &r["exit_code"]).collect();
    assert_eq!(codes, [&Value::from(1), &Value::Null]);
}
