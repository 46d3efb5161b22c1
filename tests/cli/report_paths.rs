//! Where report files go. A report step's file names come from the playbook (which may be someone
//! else's): rendered, they must stay under the working directory — no absolute path, no `..` —
//! and a `name:` that reaches file names through `run.playbook` must be a plain name. Both are
//! load errors (exit 2, located, nothing sent). A path given with `-o` is the operator's own and
//! may be anywhere.

use crate::{FakeApi, Ran, Runbook, playbook};

const FIX: &str = "a report step writes under the working directory: use a relative path without `..`, or give the path with -o";

/// `runbook play` refused at load: exit 2, nothing sent, and stderr exactly `expected`.
fn refused_at_load(text: &str, args: &[&str], expected: &str) -> Ran {
    let api = FakeApi::start(axum::Router::new());
    let ran = Runbook::play(text)
        .api(&api)
        .args(args.iter().copied())
        .run();
    ran.expect_code(2);
    assert_eq!(ran.stderr, expected, "{ran:?}");
    assert!(api.requests().is_empty(), "nothing may be sent");
    assert!(!ran.path("report.json").exists(), "no run, no report");
    ran
}

fn with_report(files: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"a\"}}\n  - report:\n      files: {files}\n"
    ))
    .replace("name: test", "name: paths")
    .replace("steps:\n", "vars: {dir: reports}\nsteps:\n")
}

/// Regression: `files: ["../../x.json"]` wrote two folders up, creating folders on the way.
#[test]
fn a_report_file_that_climbs_out_of_the_working_directory_is_a_load_error() {
    let escape = format!("../escaped-{}/r.json", std::process::id());
    let text = with_report(&format!("[\"{escape}\"]"));
    let ran = refused_at_load(
        &text,
        &[],
        &format!(
            "error: the report file {escape} climbs out with `..`; {FIX}\n  --> playbook.yaml:10:15\n   |\n10 |       files: [\"{escape}\"]\n   |               {}\n",
            "^".repeat(escape.len() + 2)
        ),
    );
    assert!(!ran.path(&escape).exists());
    assert!(
        !ran.path(&escape).parent().expect("a parent").exists(),
        "no folder created"
    );
}

#[test]
fn an_absolute_report_file_is_a_load_error_and_so_is_a_var_that_leads_out() {
    let text = with_report("[\"/tmp/runbook-report.md\"]");
    refused_at_load(
        &text,
        &[],
        &format!(
            "error: the report file /tmp/runbook-report.md is absolute; {FIX}\n  --> playbook.yaml:10:15\n   |\n10 |       files: [\"/tmp/runbook-report.md\"]\n   |               ^^^^^^^^^^^^^^^^^^^^^^^^\n"
        ),
    );
    // The template is fine; the value given on the command line is not.
    let text = with_report("[\"{{ vars.dir }}/{{ run.playbook }}.json\"]");
    refused_at_load(
        &text,
        &["--var", "dir=../.."],
        &format!(
            "error: the report file ../../paths.json climbs out with `..`; {FIX}\n  --> playbook.yaml:10:15\n   |\n10 |       files: [\"{{{{ vars.dir }}}}/{{{{ run.playbook }}}}.json\"]\n   |               {}\n",
            "^".repeat(40)
        ),
    );
}

#[test]
fn a_report_file_under_the_working_directory_is_written_with_its_folders() {
    let text = with_report("[\"{{ vars.dir }}/{{ run.playbook }}/{{ run.id }}.md\"]");
    let api = FakeApi::start(axum::Router::new());
    let ran = Runbook::play(&text).api(&api).arg("--quiet").run();
    ran.expect_code(0);
    let run_id = ran.report()["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    let written = ran.path(&format!("reports/paths/{run_id}.md"));
    assert!(written.is_file(), "{ran:?}");
}

/// A path given with `-o` is the operator's: anywhere, `..` included.
#[test]
fn a_path_given_with_dash_o_may_be_anywhere() {
    let outside = format!("../runbook-dash-o-{}.json", std::process::id());
    let text = with_report("[]");
    let api = FakeApi::start(axum::Router::new());
    let ran = Runbook::play(&text)
        .api(&api)
        .args(["--quiet", "-o", &outside])
        .run();
    ran.expect_code(0);
    let path = ran.path(&outside);
    let written = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    let report: serde_json::Value =
        serde_json::from_str(&written.expect("the -o report is written")).expect("JSON");
    assert_eq!(report["playbook"], "paths");
}

/// Regression: `name: ../../x` was accepted; the name reaches the lock file's name and report
/// file names (`run.playbook`).
#[test]
fn a_playbook_name_that_is_not_a_plain_name_is_a_located_load_error() {
    let text = playbook("  - fetch: {ids: \"a\"}\n").replace("name: test", "name: ../../x");
    refused_at_load(
        &text,
        &[],
        "error: the playbook name \"../../x\" holds '/'\n --> playbook.yaml:1:7\n  |\n1 | name: ../../x\n  |       ^^^^^^^\n  = help: a name may hold letters, digits, `-`, `_` and `.`, start with a letter or a digit, and be at most 64 characters, like `beam-nightly`\n",
    );
    let ran = Runbook::validate(&text).run();
    ran.expect_code(2);
    assert!(
        ran.stderr
            .starts_with("error: the playbook name \"../../x\" holds '/'\n"),
        "{ran:?}"
    );
}
