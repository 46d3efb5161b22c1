//! Ambiguous retries: a fake task API that, on the first retry of a task, drops the connection
//! without answering — after carrying the retry out (`a-*` tasks) or before (`b-*`), or never
//! answers at all (`h-*`). What runbook then does is what `on_ambiguous` says: `check` the task and
//! send again only what was not carried out, `resend`, or `give_up` (`unknown`).
//!
//! Retried work fails anew: a queued task shows `queued` to one read, then `failed`.
//!
//! The fake is a raw HTTP/1.1 server on a `TcpListener`, since dropping a connection without an
//! answer is not something a web framework's handler can do.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Bench, head, ids_with};

#[derive(Default)]
pub(super) struct Api {
    /// Task id → status.
    tasks: BTreeMap<String, String>,
    /// Every request: (method, path).
    log: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Api>>;

fn lock(api: &Shared) -> std::sync::MutexGuard<'_, Api> {
    api.lock().unwrap_or_else(|e| e.into_inner())
}

/// Start the fake with these failed tasks; returns its base URL.
pub(super) async fn start(ids: &[&str]) -> (String, Shared) {
    let api: Shared = Arc::default();
    for id in ids {
        lock(&api).tasks.insert(id.to_string(), "failed".into());
    }
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("a local address");
    let shared = Arc::clone(&api);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, Arc::clone(&shared)));
        }
    });
    (format!("http://{addr}"), api)
}

/// Read one request (head and `Content-Length` body) and answer it, or drop the connection.
async fn serve(mut stream: TcpStream, api: Shared) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let path = words.next().unwrap_or_default().to_string();
    let answer = {
        let mut api = lock(&api);
        let first_post =
            method == "POST" && !api.log.iter().any(|(m, p)| *m == method && *p == path);
        api.log.push((method.clone(), path.clone()));
        route(&mut api, &method, &path, first_post)
    };
    if let Some(Answer::Hang) = answer {
        // Hold the connection open and never answer.
        std::future::pending::<()>().await;
    }
    if let Some(Answer::Now(status, body)) = answer {
        let text = body.to_string();
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
    // No answer: the stream is dropped here, closing the connection.
}

enum Answer {
    Now(u16, Value),
    Hang,
}

/// The answer to a request, or `None` to drop the connection.
fn route(api: &mut Api, method: &str, path: &str, first_post: bool) -> Option<Answer> {
    let task = |api: &Api, id: &str| {
        api.tasks
            .get(id)
            .map(|status| json!({"id": id, "status": status}))
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["tasks"]) => {
            let tasks: Vec<Value> = api.tasks.keys().filter_map(|id| task(api, id)).collect();
            Some(Answer::Now(200, json!({"tasks": tasks})))
        }
        ("GET", ["tasks", id]) => Some(match task(api, id) {
            Some(t) => {
                if t["status"] == "queued" {
                    api.tasks.insert(id.to_string(), "failed".into());
                }
                Answer::Now(200, t)
            }
            None => Answer::Now(404, json!({"error": "no such task"})),
        }),
        ("POST", ["tasks", id, "retry"]) => {
            let status = api.tasks.get(*id)?.clone();
            if first_post {
                // The retry is carried out (a-*) or not (b-*, h-*), and the answer never comes.
                if id.starts_with('a') {
                    api.tasks.insert(id.to_string(), "queued".into());
                }
                if id.starts_with('h') {
                    return Some(Answer::Hang);
                }
                return None;
            }
            if status != "failed" {
                let error = json!({"error": format!("task is {status}")});
                return Some(Answer::Now(409, error));
            }
            api.tasks.insert(id.to_string(), "queued".into());
            Some(Answer::Now(200, json!({"ok": true})))
        }
        _ => Some(Answer::Now(404, json!({"error": "no route"}))),
    }
}

/// The playbook, with `retry_extra` under its retry step.
pub(super) fn playbook(retry_extra: &str) -> String {
    format!(
        r#"{head}steps:
  - fetch:
      request: {{path: /tasks}}
      items: $.tasks[*]
  - filter: {{status_in: [failed]}}
  - retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
      outcome: {{status: {{409: skipped}}}}
{retry_extra}"#,
        head = head("ambiguous")
    )
}

/// How many retry and check requests each task got.
pub(super) fn counts(api: &Shared) -> BTreeMap<String, (usize, usize)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (method, path) in &lock(api).log {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("POST", ["tasks", id, "retry"]) => counts.entry(id.to_string()).or_default().0 += 1,
            ("GET", ["tasks", id]) => counts.entry(id.to_string()).or_default().1 += 1,
            _ => {}
        }
    }
    counts
}

/// Run the playbook over tasks `a-1` and `b-1`; returns the exit code, the report, and the
/// retry and check requests per task.
pub(super) async fn run(
    retry_extra: &str,
) -> (super::Out, Value, BTreeMap<String, (usize, usize)>) {
    let (url, api) = start(&["a-1", "b-1"]).await;
    let bench = Bench::new()
        .env("API_URL", &url)
        .env("TASKS_API_TOKEN", "t");
    bench.write("playbook.yaml", &playbook(retry_extra));
    let out = bench
        .run(&["play", "playbook.yaml", "-o", "report.json"])
        .await;
    let report = bench.json("report.json");
    (out, report, counts(&api))
}

fn message(report: &Value, id: &str) -> String {
    report["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == id)
        .and_then(|i| i["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

const CHECK: &str = "      check: {request: {path: \"/tasks/{{ task.id }}\"}}\n";

#[tokio::test(flavor = "multi_thread")]
async fn check_finds_a_carried_out_retry_and_never_sends_it_again() {
    // `check` is the default once the step can read a task.
    let (out, report, counts) = run(CHECK).await;
    out.expect_code(0);
    assert_eq!(counts["a-1"], (1, 1), "a-1: one retry, one check");
    assert_eq!(
        counts["b-1"],
        (2, 1),
        "b-1: checked, not carried out, so sent again"
    );
    assert_eq!(ids_with(&report, "retried"), ["a-1", "b-1"], "{report:#}");
    let a = message(&report, "a-1");
    assert!(
        a.contains("checked: the provider shows queued, so it was carried out"),
        "{a}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resend_sends_an_ambiguous_retry_again() {
    let extra = format!("{CHECK}      on_ambiguous: resend\n");
    let (out, report, counts) = run(&extra).await;
    out.expect_code(0);
    assert_eq!(counts["a-1"], (2, 0), "sent again, unchecked");
    assert_eq!(counts["b-1"], (2, 0), "sent again, unchecked");
    // The second a-1 found the task already queued by the first.
    assert_eq!(ids_with(&report, "skipped"), ["a-1"], "{report:#}");
    assert_eq!(ids_with(&report, "retried"), ["b-1"], "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn give_up_reports_an_ambiguous_retry_unknown() {
    let extra = format!("{CHECK}      on_ambiguous: give_up\n");
    let (out, report, counts) = run(&extra).await;
    out.expect_code(1);
    assert_eq!(counts["a-1"], (1, 0));
    assert_eq!(counts["b-1"], (1, 0));
    assert_eq!(ids_with(&report, "unknown"), ["a-1", "b-1"], "{report:#}");
    assert_eq!(report["totals"]["unknown"], 2);
    assert!(
        message(&report, "a-1").contains("may have been carried out"),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_way_to_check_an_ambiguous_retry_is_given_up() {
    let (out, report, counts) = run("").await;
    out.expect_code(1);
    assert_eq!(counts["a-1"], (1, 0));
    assert_eq!(counts["b-1"], (1, 0));
    assert_eq!(ids_with(&report, "unknown"), ["a-1", "b-1"], "{report:#}");
}

/// Regression: a retry found carried out by a check inside a run stayed "in flight" in the ledger,
/// so a run resuming it checked again — after the work had failed anew — and retried it twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_checked_in_a_killed_run_is_not_retried_by_its_resume() {
    let (url, api) = start(&["a-1", "h-1"]).await;
    let bench = Bench::new()
        .env("API_URL", &url)
        .env("TASKS_API_TOKEN", "t");
    bench.write("playbook.yaml", &playbook(CHECK));
    // a-1: dropped, checked, carried out; then h-1's retry never gets an answer: kill the run.
    let mut child = bench.spawn(&["play", "playbook.yaml", "--quiet"]);
    super::wait_until("h-1's retry", || {
        counts(&api).get("h-1").is_some_and(|c| c.0 == 1)
    })
    .await;
    assert_eq!(
        counts(&api)["a-1"],
        (1, 1),
        "a-1 was checked before h-1 was sent"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("the killed run is reaped");
    assert_eq!(
        lock(&api).tasks["a-1"],
        "failed",
        "a-1's retried work failed anew"
    );

    let out = bench
        .run(&["play", "playbook.yaml", "--resume", "-o", "report.json"])
        .await;
    out.expect_code(0);
    let counts = counts(&api);
    assert_eq!(
        counts["a-1"].0, 1,
        "a-1 was retried once, found carried out: {counts:?}"
    );
    assert_eq!(
        counts["h-1"],
        (2, 1),
        "h-1: checked, not carried out, sent again"
    );
    let report = bench.json("report.json");
    assert_eq!(ids_with(&report, "retried"), ["a-1", "h-1"], "{report:#}");
}

/// Regression: a retry in flight at a crash that the resumed run's check found *not* carried out
/// still counted against the retry budget, so with `budget: {max: 1}` the task was reported
/// chronic and never retried at all.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_found_not_carried_out_does_not_use_up_the_budget() {
    let (url, api) = start(&["h-1"]).await;
    let bench = Bench::new()
        .env("API_URL", &url)
        .env("TASKS_API_TOKEN", "t");
    bench.write(
        "playbook.yaml",
        &playbook(&format!("{CHECK}      budget: {{max: 1, per: 7d}}\n")),
    );
    // h-1's retry never gets an answer and is not carried out: kill the run meanwhile.
    let mut child = bench.spawn(&["play", "playbook.yaml", "--quiet"]);
    super::wait_until("h-1's retry", || {
        counts(&api).get("h-1").is_some_and(|c| c.0 == 1)
    })
    .await;
    child.kill().expect("SIGKILL");
    child.wait().expect("the killed run is reaped");

    let out = bench
        .run(&["play", "playbook.yaml", "--resume", "-o", "report.json"])
        .await;
    out.expect_code(0);
    let report = bench.json("report.json");
    assert_eq!(ids_with(&report, "retried"), ["h-1"], "{report:#}");
    assert_eq!(counts(&api)["h-1"], (2, 1), "checked, then sent again");
}
