//! Files runbook is pointed at that are not files, or are too big: a device such as `/dev/zero`
//! (once read until memory ran out), a FIFO (once waited on forever), a directory. Each is refused
//! at once with a message naming it — the playbook and `.env` before anything runs (exit 2), an
//! ids file (`fetch: {file: …}`) as that fetch's failure (exit 1, report written).

use std::process::Command;

use crate::{FakeApi, Runbook, playbook};

#[test]
fn play_dev_zero_is_refused_at_once_instead_of_reading_until_memory_runs_out() {
    for command in ["play", "validate"] {
        let ran = Runbook::new([command, "/dev/zero"]).run();
        ran.expect_code(2);
        assert_eq!(
            ran.stderr,
            "error: playbook /dev/zero is not a regular file (a directory, a device or a pipe): give the path of a file\n"
        );
    }
}

#[test]
fn a_fifo_or_a_directory_given_as_the_playbook_is_refused_without_waiting() {
    let bench = Runbook::new(["play", "pipe.yaml"]);
    let made = Command::new("mkfifo")
        .arg(bench.dir().join("pipe.yaml"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let ran = bench.run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: playbook pipe.yaml is not a regular file (a directory, a device or a pipe): give the path of a file\n"
    );
    let bench = Runbook::new(["validate", "playbooks"]);
    std::fs::create_dir(bench.dir().join("playbooks")).expect("mkdir");
    let ran = bench.run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: playbook playbooks is not a regular file (a directory, a device or a pipe): give the path of a file\n"
    );
}

#[test]
fn a_playbook_over_the_cap_is_refused_naming_the_cap() {
    let ran = Runbook::validate(&"#".repeat(4 * 1024 * 1024 + 1)).run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: playbook playbook.yaml is larger than 4194304 bytes, the most a playbook may be: check the path\n"
    );
}

#[test]
fn an_ids_file_that_is_a_device_fails_its_fetch_and_the_run_goes_on() {
    let api = FakeApi::start(axum::Router::new());
    let text = playbook(
        "  - name: from-file\n    fetch: {file: /dev/zero}\n  - name: from-list\n    fetch: {ids: \"a\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).arg("--quiet").run();
    ran.expect_code(1);
    let report = ran.report();
    assert_eq!(
        report["errors"],
        serde_json::json!([{
            "step": "from-file",
            "message": "ids file /dev/zero is not a regular file (a directory, a device or a pipe): give the path of a file"
        }]),
        "{report:#}"
    );
    assert_eq!(report["totals"]["fetched"], 1, "the next fetch ran");
}

#[test]
fn a_dotenv_that_is_not_a_file_is_refused_before_the_run() {
    let bench = Runbook::validate(&playbook("  - fetch: {ids: \"a\"}\n"));
    let dotenv = bench.dir().join(".env");
    std::fs::create_dir(&dotenv).expect("mkdir .env");
    let ran = bench.run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        format!(
            "error: .env file {} is not a regular file (a directory, a device or a pipe): give the path of a file\n",
            dotenv.display()
        )
    );
}
