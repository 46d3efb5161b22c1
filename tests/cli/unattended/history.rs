//! `runbook history` lists the ledger's runs with their counts, dry runs marked; `runbook show`
//! prints a stored report or writes it again, the same as the run wrote it.

use super::{Bench, frozen_playbook, history_rows, sandbox};

#[tokio::test(flavor = "multi_thread")]
async fn history_lists_runs_and_show_reprints_their_reports() {
    let sandbox = sandbox(0, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    bench.freeze_listing(&sandbox);
    bench.write("playbook.yaml", &frozen_playbook("nightly", 8, ""));
    bench
        .run(&["play", "playbook.yaml", "--dry-run", "-o", "dry.json"])
        .await
        .expect_code(0);
    let ran = bench
        .run(&["play", "playbook.yaml", "-o", "run.json", "-o", "run.md"])
        .await;
    ran.expect_code(0);
    let dry = bench.json("dry.json");
    let real = bench.json("run.json");
    let dry_id = dry["run_id"].as_str().expect("a run id");
    let real_id = real["run_id"].as_str().expect("a run id");

    let history = bench.run(&["history"]).await;
    history.expect_code(0);
    let header = history.stdout.lines().next().unwrap_or_default();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "run", "playbook", "started", "state", "duration", "fetched", "selected", "retried",
            "skipped", "failed", "exit"
        ]
    );
    let rows = history_rows(&history.stdout);
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ids, [real_id, dry_id], "newest first:\n{}", history.stdout);
    assert_eq!(rows[0].1, "finished");
    assert_eq!(rows[1].1, "finished (dry)");
    let counts = |line: &str| -> Vec<u64> {
        line.split_whitespace()
            .rev()
            .take(6)
            .map(|n| n.parse().expect("a count"))
            .collect::<Vec<u64>>()
            .into_iter()
            .rev()
            .collect()
    };
    // fetched, selected, retried, skipped, failed, and the exit code
    assert_eq!(
        counts(&rows[0].2),
        [60, 30, 30, 0, 0, 0],
        "{}",
        history.stdout
    );
    assert_eq!(
        counts(&rows[1].2),
        [60, 30, 0, 0, 0, 0],
        "{}",
        history.stdout
    );
    for line in [&rows[0].2, &rows[1].2] {
        assert!(line.contains(" nightly "), "{line}");
    }

    // By playbook: the file (its `name:`) or the name; another name lists nothing.
    for filter in ["playbook.yaml", "nightly"] {
        let only = bench.run(&["history", filter]).await;
        assert_eq!(history_rows(&only.stdout).len(), 2, "{only:?}");
    }
    let none = bench.run(&["history", "other"]).await;
    none.expect_code(0);
    assert!(history_rows(&none.stdout).is_empty(), "{none:?}");

    // show prints the table the run printed.
    let shown = bench.run(&["show", real_id]).await;
    shown.expect_code(0);
    assert_eq!(shown.stdout, ran.stdout, "show prints the run's own table");
    assert!(shown.stdout.contains(real_id), "{shown:?}");

    // ... and writes the reports again, as the run wrote them.
    let again = bench
        .run(&["show", real_id, "-o", "again.json", "-o", "again.md"])
        .await;
    again.expect_code(0);
    assert_eq!(bench.json("again.json"), real);
    let md = |name: &str| std::fs::read_to_string(bench.path(name)).expect("the markdown report");
    assert_eq!(md("again.md"), md("run.md"));
    let dry_again = bench.run(&["show", dry_id, "-o", "dry-again.json"]).await;
    dry_again.expect_code(0);
    assert_eq!(bench.json("dry-again.json"), dry);

    let unknown = bench.run(&["show", "20990101T000000Z-dead"]).await;
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains("20990101T000000Z-dead") && unknown.stderr.contains("history"),
        "{unknown:?}"
    );
    assert!(unknown.stdout.is_empty());

    // Another ledger: --ledger on both commands.
    let elsewhere = bench
        .run(&["history", "--ledger", "nowhere/ledger.db"])
        .await;
    elsewhere.expect_code(2);
}
