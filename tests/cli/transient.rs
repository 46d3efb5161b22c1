//! Transient failures: answers that say "try again" (503) and connections that fail. Reads are
//! retried on any transport failure; a retry request (which changes something) is resent only when
//! it cannot have reached the API, never after the API may have carried it out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::{FakeApi, Runbook, closed_port, playbook, runtime};

/// An API whose retry endpoint answers 503 `failures` times, then 200.
fn unavailable(failures: usize) -> FakeApi {
    let calls = Arc::new(AtomicUsize::new(0));
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(move || {
            let calls = Arc::clone(&calls);
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) < failures {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(json!({"message": "maintenance"})),
                    )
                        .into_response()
                } else {
                    axum::Json(json!({"status": "queued"})).into_response()
                }
            }
        }),
    ))
}

fn retry_one() -> String {
    playbook(
        "  - fetch: {ids: t1}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    )
}

#[test]
fn a_503_then_200_is_retried_after_a_backoff() {
    let api = unavailable(1);
    let ran = Runbook::play(&retry_one()).api(&api).arg("--verbose").run();
    ran.expect_code(0);
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "retried", "{item:#}");
    assert_eq!(item["attempts"], 2);
    assert_eq!(api.with_method("POST").len(), 2);
    assert!(
        ran.stderr.contains("backing off") && ran.stderr.contains("HTTP 503"),
        "the backoff is shown with -v:\n{ran:?}"
    );
}

#[test]
fn exhausted_attempts_fail_the_item_with_the_reason() {
    let api = unavailable(usize::MAX);
    let ran = Runbook::play(&retry_one()).api(&api).run();
    ran.expect_code(1);
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "failed");
    assert_eq!(item["attempts"], 3, "the playbook allows 3 attempts");
    assert_eq!(item["http_status"], 503);
    let message = item["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("HTTP 503") && message.contains("still after 3 attempts"),
        "{message}"
    );
    assert_eq!(api.with_method("POST").len(), 3);
}

/// A server that reads each request whole, notes its request line, and closes the connection
/// without answering: the request may well have been carried out.
struct Hangup {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hangup {
    fn start() -> Hangup {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let noted = Arc::clone(&seen);
        let (port, task) = runtime().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1");
            let port = listener.local_addr().expect("a local address").port();
            let task = tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let noted = Arc::clone(&noted);
                    tokio::spawn(async move {
                        let request = read_request(&mut socket).await;
                        noted.lock().expect("not poisoned").push(request);
                        drop(socket);
                    });
                }
            });
            (port, task)
        });
        Hangup { port, seen, task }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

impl Drop for Hangup {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Read one HTTP/1 request (head and `Content-Length` body); its request line.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_retry_cut_off_after_sending_is_not_resent() {
    let server = Hangup::start();
    let ran = Runbook::play(&retry_one())
        .env("API_URL", &format!("http://127.0.0.1:{}", server.port))
        .run();
    ran.expect_code(1);
    assert_eq!(
        server.requests(),
        ["POST /tasks/t1/retry HTTP/1.1"],
        "sent once, never again"
    );
    let item = ran.item("t1");
    // Nothing can tell whether it was carried out (no check request here): `unknown`.
    assert_eq!(item["outcome"], "unknown");
    assert_eq!(item["attempts"], 1);
    let message = item["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("may have been carried out") && message.contains("not sent again"),
        "{message}"
    );
}

#[test]
fn a_retry_whose_connection_is_refused_is_resent() {
    // Refused: the request never left, so sending it again is safe.
    let port = closed_port();
    let ran = Runbook::play(&retry_one())
        .env("API_URL", &format!("http://127.0.0.1:{port}"))
        .run();
    ran.expect_code(1);
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "failed");
    assert_eq!(item["attempts"], 3);
    let message = item["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("could not connect") && message.contains("still after 3 attempts"),
        "{message}"
    );
}

#[test]
fn a_read_whose_connection_is_refused_fails_the_fetch_after_its_attempts() {
    let port = closed_port();
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text)
        .env("API_URL", &format!("http://127.0.0.1:{port}"))
        .run();
    ran.expect_code(1);
    let report = ran.report();
    let error = report["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        error.contains("GET")
            && error.contains("could not connect")
            && error.contains("still after 3 attempts"),
        "{report:#}"
    );
}

#[test]
fn a_read_whose_connection_is_refused_is_retried_until_the_api_is_up() {
    // The API is started only once runbook has reported a refused connection and is backing off.
    let port = closed_port();
    let text = "name: test\nprovider: http\nconnection:\n  base_url: \"{{ env('API_URL') }}\"\n  backoff: {initial: 200ms, max: 200ms, attempts: 20}\nsteps:\n  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n";
    let mut api = None;
    let ran = Runbook::play(text)
        .env("API_URL", &format!("http://127.0.0.1:{port}"))
        .args(["--verbose", "--dry-run"])
        .run_reacting(
            |line| line.contains("backing off") && line.contains("could not connect"),
            || {
                api = Some(FakeApi::start_on(
                    port,
                    Router::new().route(
                        "/tasks",
                        get(|| async { axum::Json(json!({"tasks": [{"id": "a"}, {"id": "b"}]})) }),
                    ),
                ));
            },
        );
    let api = api.expect("runbook reported a refused connection and backed off");
    ran.expect_code(0);
    assert_eq!(api.with_method("GET").len(), 1, "one successful read");
    assert_eq!(ran.total("fetched"), 2);
    assert_eq!(ran.total("planned"), 2);
}

/// An API whose first request never gets an answer (its handler waits for a notification that
/// never comes, until the client gives up); later requests are answered at once.
fn first_request_hangs() -> FakeApi {
    let calls = Arc::new(AtomicUsize::new(0));
    let never = Arc::new(tokio::sync::Notify::new());
    let hang = move |answer: serde_json::Value| {
        let (calls, never) = (Arc::clone(&calls), Arc::clone(&never));
        move || {
            let (calls, never, answer) = (Arc::clone(&calls), Arc::clone(&never), answer.clone());
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    never.notified().await;
                }
                axum::Json(answer)
            }
        }
    };
    FakeApi::start(
        Router::new()
            .route("/tasks", get(hang(json!({"tasks": [{"id": "a"}]}))))
            .route("/tasks/{id}/retry", post(hang(json!({"status": "queued"})))),
    )
}

const SHORT_TIMEOUT: &str = "name: test\nprovider: http\nconnection:\n  base_url: \"{{ env('API_URL') }}\"\n  timeout: 300ms\n  backoff: {initial: 10ms, max: 50ms, attempts: 3}\nsteps:\n";

#[test]
fn a_read_that_times_out_is_retried() {
    let api = first_request_hangs();
    let text = format!(
        "{SHORT_TIMEOUT}  - fetch:\n      request: {{path: /tasks}}\n      items: $.tasks[*]\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n"
    );
    let ran = Runbook::play(&text).api(&api).arg("--dry-run").run();
    ran.expect_code(0);
    assert_eq!(
        api.with_method("GET").len(),
        2,
        "the timed-out read was sent again"
    );
    assert_eq!(ran.total("fetched"), 1);
}

#[test]
fn a_retry_that_times_out_is_not_resent() {
    let api = first_request_hangs();
    let text = format!(
        "{SHORT_TIMEOUT}  - fetch: {{ids: t1}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n"
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    assert_eq!(api.with_method("POST").len(), 1, "sent once, never again");
    let item = ran.item("t1");
    assert_ne!(item["outcome"], "retried", "{item:#}");
    assert_eq!(ran.total("retried"), 0);
    let message = item["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("timed out") && message.contains("not sent again"),
        "{message}"
    );
}
