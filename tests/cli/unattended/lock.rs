//! The per-playbook lock: a second run of the same playbook on the same ledger refuses to start
//! while the first is alive, and a lock left by a dead process is taken over with a warning.

use super::{Bench, frozen_playbook, history_rows, retry_requests, sandbox, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_ledger_is_refused_while_the_first_lives() {
    // Slow answers keep the first run alive while the second tries.
    let sandbox = sandbox(200, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    bench.freeze_listing(&sandbox);
    bench.write("playbook.yaml", &frozen_playbook("nightly", 1, ""));
    let args = [
        "play",
        "playbook.yaml",
        "--quiet",
        "--ledger",
        "state/ledger.db",
    ];
    let mut first = bench.spawn(&args);
    wait_until("the first run's first retry", || {
        !retry_requests(&sandbox).is_empty()
    })
    .await;

    let second = bench
        .run(&["play", "playbook.yaml", "--ledger", "state/ledger.db"])
        .await;
    second.expect_code(3);
    assert!(
        second.stderr.contains("holds the lock")
            && second.stderr.contains("state/nightly.lock")
            && second.stderr.contains("another run of `nightly`"),
        "the refusal names the lock:\n{second:?}"
    );
    assert!(
        first.try_wait().expect("wait").is_none(),
        "the first run was still alive when the second was refused"
    );
    // A dry run takes no lock, and the other ledger has its own.
    bench
        .run(&[
            "play",
            "playbook.yaml",
            "--dry-run",
            "--quiet",
            "--ledger",
            "state/ledger.db",
        ])
        .await
        .expect_code(0);

    // The first run dies without cleaning up: its lock is stale, and the next run takes it over.
    first.kill().expect("SIGKILL");
    first.wait().expect("the first run is reaped");
    assert!(
        bench.path("state/nightly.lock").exists(),
        "a killed run leaves its lock"
    );
    let third = bench
        .run(&["play", "playbook.yaml", "--ledger", "state/ledger.db"])
        .await;
    third.expect_code(0);
    assert!(
        third.stderr.contains("warning: took over the lock")
            && third.stderr.contains("no longer runs"),
        "{third:?}"
    );
    assert!(
        !bench.path("state/nightly.lock").exists(),
        "a finished run removes its lock"
    );

    let history = bench.run(&["history", "--ledger", "state/ledger.db"]).await;
    history.expect_code(0);
    let states: Vec<String> = history_rows(&history.stdout)
        .into_iter()
        .map(|(_, state, _)| state)
        .collect();
    assert_eq!(
        states,
        ["finished", "finished (dry)", "running"],
        "the refused run left no run in the ledger:\n{}",
        history.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_lock_file_is_taken_over_with_a_warning() {
    let sandbox = sandbox(0, 1).await;
    let bench = Bench::at_sandbox(&sandbox);
    bench.freeze_listing(&sandbox);
    bench.write("playbook.yaml", &frozen_playbook("nightly", 8, ""));
    std::fs::create_dir_all(bench.path(".runbook")).expect("mkdir");
    // A process id that cannot exist.
    bench.write(".runbook/nightly.lock", "4294967294 1");
    let out = bench.run(&["play", "playbook.yaml"]).await;
    out.expect_code(0);
    assert!(
        out.stderr.contains("warning: took over the lock")
            && out.stderr.contains(".runbook/nightly.lock")
            && out.stderr.contains("(4294967294 1)"),
        "{out:?}"
    );
    assert_eq!(retry_requests(&sandbox).len(), 30, "the run went ahead");
    assert!(!bench.path(".runbook/nightly.lock").exists());
}
