//! Issue 11, point 5: a sandbox run does not vanish. `play --sandbox` records in
//! `.runbook/sandbox-ledger.db`; `history --sandbox` and `show --sandbox` read it, the default
//! ledger's commands point there, `show` takes `last` and a unique prefix of an id, and every run
//! ends with one line naming its ledger, its reports and what to type next.

use std::path::Path;

use serde_json::Value;

use crate::new_playbooks::{Out, run_in};
use crate::repo_path;

/// `play beam-nightly.yaml --sandbox` in `dir` with `extra` arguments; its run id, from the JSON
/// report it writes to `name`.
fn sandbox_run(dir: &Path, name: &str, extra: &[&str]) -> (String, Out) {
    let playbook = repo_path("playbooks/beam-nightly.yaml");
    let playbook = playbook.display().to_string();
    let mut args = vec!["play", playbook.as_str(), "--sandbox", "-o", name];
    args.extend_from_slice(extra);
    let ran = run_in(dir, &args);
    ran.expect_code(0);
    let text = std::fs::read_to_string(dir.join(name)).expect("the report is written");
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    let id = report["run_id"].as_str().expect("a run id").to_string();
    (id, ran)
}

#[test]
fn a_sandbox_run_ends_with_where_it_was_recorded_and_what_to_try_next() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (id, ran) = sandbox_run(dir.path(), "r.json", &[]);
    assert_eq!(
        // Off a terminal the line is timestamped like every progress line before it.
        ran.stderr
            .lines()
            .last()
            .and_then(|l| l.split_once(' '))
            .map_or("", |(_, line)| line),
        format!(
            "recorded run {id} in .runbook/sandbox-ledger.db; wrote r.json; next: runbook show --sandbox {id} (this run), runbook history --sandbox (every run)"
        ),
        "{ran:#?}"
    );
    // --quiet keeps only the summary and the failures: no such line.
    let playbook = repo_path("playbooks/beam-nightly.yaml");
    let quiet = run_in(
        dir.path(),
        &[
            "play",
            &playbook.display().to_string(),
            "--sandbox",
            "--quiet",
        ],
    );
    quiet.expect_code(0);
    assert!(!quiet.stderr.contains("recorded run"), "{quiet:#?}");
}

#[test]
fn history_and_show_find_a_sandbox_run_with_sandbox() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    let (id, _) = sandbox_run(dir, "r.json", &[]);

    let history = run_in(dir, &["history", "--sandbox"]);
    history.expect_code(0);
    let rows: Vec<&str> = history.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{history:#?}");
    assert!(
        rows[0].starts_with(&format!("{id} beam-nightly ")),
        "{history:#?}"
    );

    for asked in [id.as_str(), "last", &id[..id.len() - 2]] {
        let shown = run_in(dir, &["show", "--sandbox", asked]);
        shown.expect_code(0);
        assert!(
            shown
                .stdout
                .starts_with(&format!("beam-nightly (sandbox): run {id}: ")),
            "show --sandbox {asked}:\n{shown:#?}"
        );
    }
}

#[test]
fn the_default_ledger_points_at_the_sandbox_ledger() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    let (id, _) = sandbox_run(dir, "r.json", &[]);

    let history = run_in(dir, &["history"]);
    history.expect_code(2);
    assert_eq!(
        history.stderr,
        "error: no ledger at .runbook/ledger.db: only sandbox runs are recorded in this directory, in .runbook/sandbox-ledger.db (runbook history --sandbox reads them)\n"
    );
    for asked in [id.as_str(), "last"] {
        let shown = run_in(dir, &["show", asked]);
        shown.expect_code(2);
        assert_eq!(
            shown.stderr,
            format!(
                "error: no ledger at .runbook/ledger.db; it is in the sandbox ledger: runbook show --sandbox {id}\n"
            )
        );
    }

    // A default ledger that lacks the run: the same pointer, after what it lacks.
    let playbook = repo_path("playbooks/beam-nightly.yaml");
    let playbook = playbook.display().to_string();
    run_in(
        dir,
        &[
            "play",
            &playbook,
            "--sandbox",
            "--ledger",
            ".runbook/ledger.db",
            "--dry-run",
        ],
    )
    .expect_code(0);
    let shown = run_in(dir, &["show", &id]);
    shown.expect_code(2);
    assert_eq!(
        shown.stderr,
        format!(
            "error: the ledger .runbook/ledger.db has no run {id} (runbook history lists the runs); it is in the sandbox ledger: runbook show --sandbox {id}\n"
        )
    );
    let listed = run_in(dir, &["history"]);
    listed.expect_code(0);
    assert_eq!(
        listed.stderr,
        "note: sandbox runs are recorded apart, in .runbook/sandbox-ledger.db: runbook history --sandbox\n"
    );
}

#[test]
fn an_ambiguous_prefix_lists_the_runs_it_could_be() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    let (first, _) = sandbox_run(dir, "one.json", &["--dry-run"]);
    let (second, _) = sandbox_run(dir, "two.json", &["--dry-run"]);
    // Both ids start with the date.
    let shown = run_in(dir, &["show", "--sandbox", &first[..8]]);
    shown.expect_code(2);
    assert_eq!(
        shown.stderr,
        format!(
            "error: {} is the start of more than one run id in .runbook/sandbox-ledger.db: {second}, {first}; give more of the id (runbook history --sandbox lists the runs)\n",
            &first[..8]
        )
    );
    assert!(shown.stdout.is_empty());
    let none = run_in(dir, &["show", "--sandbox", "1999"]);
    none.expect_code(2);
    assert_eq!(
        none.stderr,
        "error: the ledger .runbook/sandbox-ledger.db has no run 1999 (runbook history --sandbox lists the runs)\n"
    );
}

#[test]
fn sandbox_and_ledger_are_one_or_the_other() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for command in ["history", "show"] {
        let mut args = vec![command];
        if command == "show" {
            args.push("last");
        }
        args.extend(["--sandbox", "--ledger", "x.db"]);
        let ran = run_in(dir.path(), &args);
        ran.expect_code(2);
        assert!(
            ran.stderr
                .contains("the argument '--sandbox' cannot be used with '--ledger <PATH>'"),
            "{ran:#?}"
        );
    }
    let none = run_in(dir.path(), &["history", "--sandbox"]);
    none.expect_code(2);
    assert_eq!(
        none.stderr,
        "error: no sandbox ledger at .runbook/sandbox-ledger.db: `runbook play PLAYBOOK --sandbox` records its runs there (runbook history without --sandbox reads the other runs)\n"
    );
}

/// Issue 11, point 10: a taken port said only "Address already in use".
#[test]
fn a_taken_sandbox_port_says_which_and_how_to_choose_another() {
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a port to take");
    let port = taken.local_addr().expect("its address").port().to_string();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ran = run_in(dir.path(), &["sandbox", "--port", &port]);
    ran.expect_code(3);
    assert_eq!(
        ran.stderr,
        format!(
            "error: sandbox: port {port} on 127.0.0.1 is taken (another runbook sandbox, or another server): choose another with --port N, or --port 0 for any free port\n"
        )
    );
    assert!(ran.stdout.is_empty(), "{ran:#?}");
}
