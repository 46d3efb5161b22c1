//! SIGTERM and SIGINT end every wait at once (issue 7, case 4): a `Retry-After: 200`, a backoff, a
//! slow rate (`1/60s`), verify's poll interval. Nothing is sent after the signal (the fake API's
//! journal says so), the report is written and the run exits 3. A retry in flight when the signal
//! comes gets a short grace, then is abandoned as `unknown` and left in the ledger in flight, so
//! `--resume` does not send it again blindly.
//!
//! Each test waits for runbook to reach the wait (a line on stderr, or a request in the journal),
//! sends the signal, and measures the time from the signal to the exit; the bound asserted on it is
//! a hang guard, the time itself is printed (`--nocapture`).

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{FakeApi, Recorded, Runbook, playbook};

/// Longest a run may take to exit after the signal before the test fails: a hang guard (the
/// waits interrupted here are 60 s and more).
const EXIT_GUARD: Duration = Duration::from_secs(10);

/// Longest a test waits for runbook to reach the wait it interrupts.
const REACH_GUARD: Duration = Duration::from_secs(30);

/// A run of the binary in the background, its stderr read line by line.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

/// How a run ended after the signal.
struct Stopped {
    code: Option<i32>,
    /// From the signal to the exit, as the test saw it.
    took: Duration,
    stderr: String,
}

impl std::fmt::Debug for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} {:?} after the signal\n--- stderr\n{}",
            self.code, self.took, self.stderr
        )
    }
}

impl Running {
    fn start(runbook: &Runbook) -> Running {
        let mut child = runbook
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the runbook binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            stderr: Vec::new(),
        }
    }

    /// Wait for a line of stderr that `matches` (bounded by [`REACH_GUARD`]).
    fn wait_for_line(&mut self, matches: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let left = REACH_GUARD.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = matches(&line);
                    self.stderr.push(line);
                    if found {
                        return;
                    }
                }
                Err(e) => panic!("no such line on stderr ({e}):\n{}", self.stderr.join("\n")),
            }
        }
    }

    /// Send `signal` (`TERM`, `INT`) and wait for the exit (bounded by [`EXIT_GUARD`]).
    fn signal_and_wait(mut self, signal: &str) -> Stopped {
        let pid = self.child.id().to_string();
        let sent = Instant::now();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("the run is reaped") {
                break exit;
            }
            if sent.elapsed() > EXIT_GUARD {
                let _ = self.child.kill();
                panic!(
                    "runbook still running {EXIT_GUARD:?} after SIG{signal}:\n{}",
                    self.stderr.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let took = sent.elapsed();
        self.stderr.extend(self.lines.iter());
        eprintln!("SIG{signal} to exit: {took:?}");
        Stopped {
            code: exit.code(),
            took,
            stderr: self.stderr.join("\n"),
        }
    }
}

/// Wait until the journal of `api` holds a request that `matches` (a bounded poll).
fn wait_for_request(api: &FakeApi, matches: impl Fn(&Recorded) -> bool) {
    let start = Instant::now();
    while !api.requests().iter().any(&matches) {
        assert!(start.elapsed() < REACH_GUARD, "no such request arrived");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The report the run wrote, read back.
fn report(runbook: &Runbook) -> Value {
    let text = std::fs::read_to_string(runbook.dir().join("report.json"))
        .expect("the report is written after the signal");
    serde_json::from_str(&text).expect("the report is JSON")
}

/// The report's items of the retry step: (id, outcome, message), by id.
fn retried(report: &Value) -> Vec<(String, String, String)> {
    let mut items: Vec<(String, String, String)> = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let text = |k: &str| i[k].as_str().unwrap_or_default().to_string();
            (text("id"), text("outcome"), text("message"))
        })
        .collect();
    items.sort();
    items
}

fn triple(id: &str, outcome: &str, message: &str) -> (String, String, String) {
    (id.into(), outcome.into(), message.into())
}

/// Two tasks retried `concurrency` at a time, with `backoff` for the connection and `retry_extra`
/// under the retry step.
fn two_retries(concurrency: usize, backoff: &str, retry_extra: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"t1,t2\"}}\n  - name: retried\n    retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n      concurrency: {concurrency}\n{retry_extra}"
    ))
    .replace(
        "  backoff: {initial: 10ms, max: 50ms, attempts: 3}",
        &format!("  backoff: {backoff}"),
    )
}

/// An answer that asks every worker to wait 200 s (`Retry-After: 200`) with `status`.
fn wait_200s(status: StatusCode) -> axum::response::Response {
    (status, [(header::RETRY_AFTER, "200")]).into_response()
}

/// Start `runbook` with `-v`, wait until it backs off 200 s, send `signal`, and wait for the exit.
fn signal_during_a_200s_wait(runbook: &Runbook, signal: &str) -> Stopped {
    let mut running = Running::start(runbook);
    running.wait_for_line(|l| l.contains("backing off 200000ms"));
    running.signal_and_wait(signal)
}

fn posts(api: &FakeApi) -> usize {
    api.with_method("POST").len()
}

#[test]
fn sigterm_during_a_retry_after_of_200s_exits_3_at_once_and_sends_nothing_more() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { wait_200s(StatusCode::TOO_MANY_REQUESTS) }),
    ));
    let runbook = Runbook::play(&two_retries(1, "{attempts: 3}", ""))
        .api(&api)
        .arg("-v");
    let stopped = signal_during_a_200s_wait(&runbook, "TERM");
    assert_eq!(stopped.code, Some(3), "{stopped:?}");
    assert_eq!(posts(&api), 1, "no request after the signal");
    let report = report(&runbook);
    assert_eq!(report["aborted"], "step retried: interrupted");
    assert_eq!(
        retried(&report),
        vec![
            triple(
                "t1",
                "failed",
                "HTTP 429; not sent again after 1 attempt: the run was stopped"
            ),
            triple("t2", "not_sent", "not sent: the run was stopped"),
        ]
    );
}

#[test]
fn sigterm_during_a_backoff_exits_3_at_once_and_sends_nothing_more() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { StatusCode::SERVICE_UNAVAILABLE }),
    ));
    let runbook = Runbook::play(&two_retries(
        1,
        "{initial: 100s, max: 100s, attempts: 3}",
        "",
    ))
    .api(&api)
    .arg("-v");
    let mut running = Running::start(&runbook);
    running.wait_for_line(|l| l.contains("backing off"));
    let stopped = running.signal_and_wait("TERM");
    assert_eq!(stopped.code, Some(3), "{stopped:?}");
    assert_eq!(posts(&api), 1, "no request after the signal");
    assert_eq!(report(&runbook)["aborted"], "step retried: interrupted");
}

#[test]
fn sigterm_while_waiting_for_a_slow_rate_slot_exits_3_and_sends_nothing_more() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { StatusCode::NO_CONTENT }),
    ));
    let runbook = Runbook::play(&two_retries(
        2,
        "{initial: 10ms, max: 50ms, attempts: 3}",
        "      rate: 1/60s\n",
    ))
    .api(&api);
    let running = Running::start(&runbook);
    wait_for_request(&api, |r| r.method == "POST");
    let stopped = running.signal_and_wait("TERM");
    assert_eq!(stopped.code, Some(3), "{stopped:?}");
    assert_eq!(
        posts(&api),
        1,
        "the second retry waited for its slot: never sent"
    );
    let report = report(&runbook);
    assert_eq!(report["aborted"], "step retried: interrupted");
    let first = api.requests()[0].path.clone();
    let (sent, held) = if first == "/tasks/t1/retry" {
        ("t1", "t2")
    } else {
        ("t2", "t1")
    };
    assert_eq!(retried(&report), {
        let mut want = vec![
            triple(sent, "retried", ""),
            triple(held, "not_sent", "not sent: the run was stopped"),
        ];
        want.sort();
        want
    });
}

#[test]
fn sigterm_during_verifys_poll_interval_exits_3_and_polls_no_more() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks/{id}/retry",
                post(|| async { StatusCode::NO_CONTENT }),
            )
            .route(
                "/tasks/{id}",
                get(|| async { axum::Json(json!({"status": "running"})) }),
            ),
    );
    let text = playbook(
        "  - fetch: {ids: \"t1\"}\n  - name: retried\n    retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n  - name: verified\n    verify:\n      request: {path: \"/tasks/{{ task.id }}\"}\n      success: [done]\n      failure: [failed]\n      every: 60s\n      timeout: 10m\n",
    );
    let runbook = Runbook::play(&text).api(&api);
    let running = Running::start(&runbook);
    wait_for_request(&api, |r| r.method == "GET");
    let stopped = running.signal_and_wait("TERM");
    assert_eq!(stopped.code, Some(3), "{stopped:?}");
    assert_eq!(
        api.with_method("GET").len(),
        1,
        "one poll, none after the signal"
    );
    let report = report(&runbook);
    assert_eq!(report["aborted"], "step verified: interrupted");
    // The signal may come before runbook has read the first poll's answer: then no status is known.
    let items = retried(&report);
    let running = triple(
        "t1",
        "pending",
        "not settled when the run was stopped: last status running",
    );
    let unread = triple(
        "t1",
        "pending",
        "not settled when the run was stopped: last unknown",
    );
    assert!(items == vec![running] || items == vec![unread], "{items:?}");
}

/// A retry the provider never answers: the signal gives it a short grace, then it is abandoned,
/// `unknown`, and the ledger keeps it in flight: `--resume` does not send it again blindly.
#[test]
fn sigterm_abandons_a_retry_in_flight_after_a_grace_as_unknown_and_resume_does_not_resend_it() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(std::future::pending::<StatusCode>),
    ));
    let text = playbook(
        "  - fetch: {ids: \"t1\"}\n  - name: retried\n    retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let runbook = Runbook::play(&text).api(&api);
    let running = Running::start(&runbook);
    wait_for_request(&api, |r| r.method == "POST");
    let stopped = running.signal_and_wait("TERM");
    assert_eq!(stopped.code, Some(3), "{stopped:?}");
    assert!(
        stopped.took >= Duration::from_millis(500),
        "the retry in flight had its grace: {stopped:?}"
    );
    let report = report(&runbook);
    assert_eq!(report["aborted"], "step retried: interrupted");
    assert_eq!(
        retried(&report),
        vec![triple(
            "t1",
            "unknown",
            "the run was stopped while the request was in flight; it may have been carried out"
        )]
    );

    let mut resume = Command::new(env!("CARGO_BIN_EXE_runbook"));
    let output = resume
        .args(["play", "playbook.yaml", "--resume", "-o", "second.json"])
        .current_dir(runbook.dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("API_URL", api.url())
        .stdin(Stdio::null())
        .output()
        .expect("the resumed run runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(posts(&api), 1, "the resumed run did not send it again");
    let text = std::fs::read_to_string(runbook.dir().join("second.json")).expect("second.json");
    let second: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        retried(&second),
        vec![triple(
            "t1",
            "unknown",
            "in flight when the resumed run stopped and its status cannot be checked: not sent again (--retry-unknown sends it)"
        )]
    );
}

#[test]
fn sigint_during_a_retry_after_wait_ends_it_too() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { wait_200s(StatusCode::SERVICE_UNAVAILABLE) }),
    ));
    let runbook = Runbook::play(&two_retries(1, "{attempts: 3}", ""))
        .api(&api)
        .arg("-v");
    let stopped = signal_during_a_200s_wait(&runbook, "INT");
    assert_eq!(stopped.code, Some(3), "{stopped:?}");
    assert_eq!(posts(&api), 1, "no request after the signal");
}

#[test]
fn sigterm_while_a_listing_waits_out_a_retry_after_exits_3_and_reads_no_more() {
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(|| async { wait_200s(StatusCode::TOO_MANY_REQUESTS) }),
    ));
    let text = playbook(
        "  - name: list\n    fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let runbook = Runbook::play(&text).api(&api).arg("-v");
    let stopped = signal_during_a_200s_wait(&runbook, "TERM");
    assert_eq!(stopped.code, Some(3), "{stopped:?}");
    assert_eq!(api.requests().len(), 1, "no read after the signal");
    assert_eq!(report(&runbook)["aborted"], "step list: interrupted");
}
