//! A ledger that cannot be used — not SQLite, truncated, of another schema, read-only, a
//! directory — is one behaviour whatever the breakage: nothing is sent, stderr says which ledger
//! and what to do, the run is aborted (exit 3, as for a guard: the playbook and the command line
//! are valid, but the run cannot keep its promises without the ledger), and the reports are still
//! written, saying why. `history` and `show` refuse it with the same message (and read a
//! read-only ledger, which a run may not write).

use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

use crate::{FakeApi, Ran, Runbook, playbook};

const LEDGER: &str = ".runbook/ledger.db";

fn retry_two() -> String {
    playbook(
        "  - fetch: {ids: \"a b\"}\n  - retry:\n      request: {path: \"/tasks/{{ task.id | urlencode }}/retry\"}\n  - report:\n      files: [\"from-step.md\"]\n",
    )
}

fn api() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { StatusCode::NO_CONTENT }),
    ))
}

/// Run the playbook with `prepare` applied to its working directory first.
fn run_with(prepare: impl FnOnce(&Path)) -> (Ran, FakeApi) {
    let api = api();
    let bench = Runbook::play(&retry_two()).api(&api).arg("--quiet");
    prepare(bench.dir());
    (bench.run(), api)
}

/// Refused as the module says: exit 3, `message` on stderr and in the report, nothing sent.
fn assert_refused(ran: &Ran, api: &FakeApi, message: &str) {
    ran.expect_code(3);
    assert_eq!(ran.stderr, format!("error: {message}\n"), "{ran:?}");
    assert!(api.requests().is_empty(), "nothing may be sent");
    let report = ran.report();
    assert_eq!(
        report["aborted"],
        Value::String(message.into()),
        "{report:#}"
    );
    assert_eq!(report["items"], Value::Array(vec![]));
    let markdown = std::fs::read_to_string(ran.path("from-step.md"))
        .expect("the report step's file is written too");
    assert!(markdown.contains(message), "{markdown}");
}

fn move_aside() -> String {
    format!(
        "move it aside (mv {LEDGER} {LEDGER}.broken) and runbook starts a new one, or point --ledger elsewhere"
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_ledger_that_is_not_sqlite_is_refused_and_left_as_it_was() {
    let text = b"this is a text file, not a ledger\n";
    let (ran, api) = run_with(|dir| write(dir, LEDGER, text));
    assert_refused(
        &ran,
        &api,
        &format!(
            "the ledger {LEDGER} cannot be used: it is not a SQLite database; {}",
            move_aside()
        ),
    );
    assert_eq!(std::fs::read(ran.path(LEDGER)).expect("still there"), text);
    // `history` and `show` say the same.
    for args in [vec!["history"], vec!["show", "20260101T000000Z-0000"]] {
        let bench = Runbook::new(args);
        write(bench.dir(), LEDGER, text);
        let ran = bench.run();
        ran.expect_code(3);
        assert_eq!(
            ran.stderr,
            format!(
                "error: the ledger {LEDGER} cannot be used: it is not a SQLite database; {}\n",
                move_aside()
            )
        );
    }
}

#[test]
fn a_truncated_ledger_is_refused() {
    // A real ledger first, then cut short.
    let api = api();
    let first = Runbook::play(&retry_two()).api(&api).arg("--quiet").run();
    first.expect_code(0);
    let ledger = first.path(LEDGER);
    let whole = std::fs::read(&ledger).expect("the ledger exists");
    assert!(whole.len() > 5000, "{} bytes", whole.len());
    let (ran, api) = run_with(|dir| write(dir, LEDGER, &whole[..5000]));
    assert_refused(
        &ran,
        &api,
        &format!(
            "the ledger {LEDGER} cannot be used: it is damaged (truncated or overwritten); {}",
            move_aside()
        ),
    );
}

#[test]
fn a_sqlite_file_of_another_schema_is_refused() {
    for (schema, missing) in [
        // Lacks a column the ledger's index needs: once an SQL error quoting the whole schema.
        ("CREATE TABLE runs (id TEXT, state TEXT);", "playbook"),
        // Lacks one only an insert needs: once exit 2 instead of 3.
        (
            "CREATE TABLE runs (id TEXT, playbook TEXT, started_at TEXT);",
            "provider",
        ),
    ] {
        let (ran, api) = run_with(|dir| {
            std::fs::create_dir_all(dir.join(".runbook")).expect("mkdir");
            let conn = rusqlite::Connection::open(dir.join(LEDGER)).expect("a SQLite file");
            conn.execute_batch(schema).expect("the other schema");
        });
        assert_refused(
            &ran,
            &api,
            &format!(
                "the ledger {LEDGER} cannot be used: it is not a runbook ledger (its table `runs` has no column `{missing}`); {}",
                move_aside()
            ),
        );
    }
}

#[test]
fn a_directory_in_the_ledgers_place_is_refused() {
    let (ran, api) = run_with(|dir| std::fs::create_dir_all(dir.join(LEDGER)).expect("mkdir"));
    assert_refused(
        &ran,
        &api,
        &format!("the ledger {LEDGER} cannot be used: it is a directory; point --ledger at a file"),
    );
}

#[test]
fn a_read_only_ledger_is_refused_unless_the_user_may_write_it_anyway() {
    use std::os::unix::fs::PermissionsExt;
    let api = api();
    let first = Runbook::play(&retry_two()).api(&api).arg("--quiet").run();
    first.expect_code(0);
    let whole = std::fs::read(first.path(LEDGER)).expect("the ledger exists");
    let (ran, api) = run_with(|dir| {
        write(dir, LEDGER, &whole);
        let ledger = dir.join(LEDGER);
        std::fs::set_permissions(&ledger, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    });
    // The superuser writes read-only files: for it the ledger is not read-only at all.
    let writable = std::fs::OpenOptions::new()
        .write(true)
        .open(ran.path(LEDGER))
        .is_ok();
    if writable {
        ran.expect_code(0);
        assert_eq!(api.with_method("POST").len(), 2);
    } else {
        assert_refused(
            &ran,
            &api,
            &format!(
                "the ledger {LEDGER} cannot be used: it is read-only; make it and its folder writable (chmod u+w), or point --ledger elsewhere"
            ),
        );
    }
}
