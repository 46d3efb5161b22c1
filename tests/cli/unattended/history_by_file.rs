//! `runbook history FILE` lists the runs of the playbook in FILE by the name its last run recorded
//! in the ledger: the file is not parsed again, so an edited or broken file still finds its runs.

use super::{Bench, history_rows};

const PLAYBOOK: &str = "name: nightly\nprovider: http\nconnection: {base_url: \"http://127.0.0.1:9\"}\nsteps:\n  - fetch: {ids: \"a b\"}\n";

#[tokio::test(flavor = "multi_thread")]
async fn history_of_a_file_finds_its_runs_after_the_file_stops_parsing() {
    let bench = Bench::new();
    bench.write("playbook.yaml", PLAYBOOK);
    bench
        .run(&["play", "playbook.yaml", "--dry-run", "--quiet"])
        .await
        .expect_code(0);
    bench.write("playbook.yaml", "name: [this is no longer a playbook\n");
    let listed = bench.run(&["history", "playbook.yaml"]).await;
    listed.expect_code(0);
    let rows = history_rows(&listed.stdout);
    assert_eq!(rows.len(), 1, "{listed:?}");
    assert!(rows[0].2.contains(" nightly "), "{listed:?}");
    let by_name = bench.run(&["history", "nightly"]).await;
    assert_eq!(history_rows(&by_name.stdout), rows);
}
