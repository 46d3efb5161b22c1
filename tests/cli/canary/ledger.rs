//! The ledger: a past run shown from it names no secret, and its database, WAL and shared
//! memory hold none while a retry is in flight or after.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook};

use super::{ODD, PLAYBOOK, assert_clean, assert_no_leak, contains, echoing_api, forms, run};

#[test]
fn a_past_run_shown_from_the_ledger_names_no_secret() {
    let api = echoing_api(StatusCode::OK);
    let ran = run(ODD, &api, &[]);
    ran.expect_code(1);
    let run_id = ran.report()["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    for args in [
        vec!["history"],
        vec!["show", run_id.as_str()],
        vec!["show", run_id.as_str(), "-o", "again.json"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
            .args(&args)
            .current_dir(ran.path("."))
            .env_clear()
            .output()
            .expect("runbook runs");
        assert!(output.status.success(), "{args:?}: {output:?}");
        for (form, text) in forms(ODD) {
            for stream in [&output.stdout, &output.stderr] {
                assert!(
                    !contains(stream, text.as_bytes()),
                    "{form} form in {args:?}"
                );
            }
        }
    }
    assert_no_leak(&ran, &[ODD]);
}

/// While a retry is in flight the ledger holds its intent in the WAL, not yet checkpointed: scan
/// the database, its `-wal` and `-shm` files then, and again once the run is over.
#[test]
fn the_ledger_and_its_wal_hold_no_secret_while_a_retry_is_in_flight() {
    let (arrived, arrival) = std::sync::mpsc::channel::<()>();
    let arrived = std::sync::Arc::new(std::sync::Mutex::new(arrived));
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let held = std::sync::Arc::clone(&release);
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    axum::Json(json!({"tasks": [{"id": "held", "status": "failed"}]}))
                }),
            )
            .route(
                "/tasks/{id}/retry/{*secret}",
                post(move || {
                    let arrived = std::sync::Arc::clone(&arrived);
                    let held = std::sync::Arc::clone(&held);
                    async move {
                        let _ = arrived.lock().map(|a| a.send(()));
                        held.notified().await;
                        StatusCode::NO_CONTENT
                    }
                }),
            ),
    );
    let runbook = Runbook::play(PLAYBOOK)
        .api(&api)
        .env("API_TOKEN", ODD)
        .env("OTHER", "OTHER-canary-2b7c");
    let child = runbook
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runbook starts");
    arrival
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the retry reaches the API");
    let during = assert_clean(
        Vec::new(),
        runbook.dir(),
        &[ODD, "OTHER-canary-2b7c"],
        "while the retry is in flight",
    );
    assert!(
        during.iter().any(|f| f.ends_with("ledger.db-wal")),
        "the WAL is there to scan: {during:?}"
    );
    release.notify_one();
    let output = child.wait_with_output().expect("runbook finishes");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_clean(
        vec![
            ("stdout".to_string(), output.stdout.clone()),
            ("stderr".to_string(), output.stderr.clone()),
        ],
        runbook.dir(),
        &[ODD, "OTHER-canary-2b7c"],
        "after the run",
    );
}
