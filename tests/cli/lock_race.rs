//! Runs started at the same instant. Two runs of one playbook: one runs, the other is refused with
//! the lock message (exit 3) — never "database is locked", which came from both opening the ledger
//! (and switching it to WAL) before either took the lock, nor both running, which came from the
//! lock file being read in the moment between its creation and its writing. A run of another
//! playbook on the same ledger, started with them, is not disturbed at all.

use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use tokio::sync::watch;

use crate::{FakeApi, Runbook};

/// A hang guard, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn playbook(name: &str) -> String {
    format!(
        "name: {name}\nprovider: http\nconnection:\n  base_url: \"{{{{ env('API_URL') }}}}\"\nsteps:\n  - fetch: {{ids: \"{name}-1\"}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id | urlencode }}}}/retry\"}}\n"
    )
}

#[test]
fn runs_started_together_get_the_lock_message_never_database_is_locked() {
    for round in 0..8 {
        // Retries are answered only once the test says so: the run that holds the lock is still
        // running when the other one is refused.
        let (release, released) = watch::channel(false);
        let api = FakeApi::start(Router::new().route(
            "/tasks/{id}/retry",
            post(move || {
                let mut released = released.clone();
                async move {
                    let _ = released.wait_for(|r| *r).await;
                    StatusCode::NO_CONTENT
                }
            }),
        ));
        let bench = Runbook::new(["play", "--quiet"])
            .file("nightly.yaml", &playbook("nightly"))
            .file("weekly.yaml", &playbook("weekly"))
            .api(&api);
        let (done, finished) = mpsc::channel();
        for (who, file) in [(0, "nightly.yaml"), (1, "nightly.yaml"), (2, "weekly.yaml")] {
            let child = bench
                .command()
                .arg(file)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("runbook starts");
            let done = done.clone();
            std::thread::spawn(move || {
                let out = child.wait_with_output().expect("runbook runs");
                let _ = done.send((who, out));
            });
        }
        let (loser, refused) = finished
            .recv_timeout(HANG_GUARD)
            .expect("one run ends while the others wait for their answers");
        assert!(
            loser < 2,
            "round {round}: the weekly run ended first: {refused:?}"
        );
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(3), "round {round}: {stderr}");
        assert_eq!(
            without_pid(&stderr),
            "error: another run of `nightly` holds the lock .runbook/nightly.lock; wait for it to finish\n",
            "round {round}"
        );
        let _ = release.send(true);
        for _ in 0..2 {
            let (who, out) = finished.recv_timeout(HANG_GUARD).expect("the others end");
            assert_ne!(who, loser);
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(api.with_method("POST").len(), 2, "one retry per playbook");
    }
}

/// `text` without the owner's process id, ` (process 1234)`, which the message gives when the
/// owner has written it yet.
fn without_pid(text: &str) -> String {
    match text.split_once(" (process ") {
        Some((head, rest)) => match rest.split_once(')') {
            Some((pid, tail)) if pid.chars().all(|c| c.is_ascii_digit()) => format!("{head}{tail}"),
            _ => text.to_string(),
        },
        None => text.to_string(),
    }
}

/// Regression: a run finishing (its ledger connection checkpointing the WAL as it closes) while
/// another opened the same new ledger made the latter fail with "database is locked". Here the
/// runs touch no network and finish at once, so they open and close the ledger all together.
#[test]
fn quick_runs_started_together_each_run_or_get_the_lock_message() {
    let quick = |name: &str| {
        format!("name: {name}\nprovider: http\nsteps:\n  - fetch: {{ids: \"{name}-1 {name}-2\"}}\n")
    };
    let mut refused = 0;
    for round in 0..20 {
        let bench = Runbook::new(["play", "--quiet"])
            .file("nightly.yaml", &quick("nightly"))
            .file("weekly.yaml", &quick("weekly"));
        let children: Vec<_> = ["nightly.yaml", "nightly.yaml", "weekly.yaml"]
            .into_iter()
            .map(|file| {
                bench
                    .command()
                    .arg(file)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("runbook starts")
            })
            .collect();
        for (i, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().expect("runbook runs");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            match out.status.code() {
                Some(0) => assert_eq!(stderr, "", "round {round}"),
                Some(3) if i < 2 => {
                    refused += 1;
                    assert_eq!(
                        without_pid(&stderr),
                        "error: another run of `nightly` holds the lock .runbook/nightly.lock; wait for it to finish\n",
                        "round {round}"
                    );
                }
                other => panic!("round {round}, run {i}: exit {other:?}: {stderr}"),
            }
        }
    }
    eprintln!("{refused} of 20 second runs met the first one's lock");
}
