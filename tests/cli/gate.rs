//! The `Retry-After` gate (issue 7, case 8): it closes as soon as a throttled answer's status and
//! headers are read, before its body, so no request leaves inside the window once runbook knows of
//! it; only requests already on the wire may land there.
//!
//! Not a timed test: the fake API holds the four requests in flight, then answers the first with
//! `429 Retry-After: 1` and holds that answer's body back. runbook says on stderr (`-v`) that it
//! read the 429 (after closing the gate); only then does the test let the body and the three other
//! answers go. Every later request must then arrive at least one second after the 429 left the
//! server: runbook read the 429 after it left, and the gate holds until one second after that read.
//! Two fixes keep the window shut, each enough here alone: the gate closed on the headers, and the
//! gate looked at again just before a request is written (after its ledger intent). With neither,
//! a request arrived 11 ms after the 429 left.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::watch;

use crate::{FakeApi, Runbook, playbook};

const CONCURRENCY: usize = 4;

/// The server's side of the story.
#[derive(Clone)]
struct Throttling {
    /// Requests seen so far.
    arrived: Arc<Mutex<usize>>,
    /// How many arrived, for handlers waiting for the others.
    count: watch::Sender<usize>,
    /// Set by the test once runbook said it read the 429.
    release: watch::Sender<bool>,
    /// When the 429's status and headers left the handler.
    throttled_at: Arc<Mutex<Option<Instant>>>,
}

async fn until(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|released| *released).await;
}

async fn answer(state: Throttling) -> Response {
    let n = {
        let mut arrived = state.arrived.lock().unwrap_or_else(|e| e.into_inner());
        *arrived += 1;
        *arrived
    };
    state.count.send_replace(n);
    if n > CONCURRENCY {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut release = state.release.subscribe();
    if n > 1 {
        // In flight when the 429 is answered; answered only after runbook read it.
        until(&mut release).await;
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut count = state.count.subscribe();
    let _ = count.wait_for(|seen| *seen >= CONCURRENCY).await;
    let body = futures_util::stream::once(async move {
        until(&mut release).await;
        Ok::<_, std::io::Error>(Bytes::from_static(b"{\"error\": \"slow down\"}"))
    });
    *state.throttled_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header(header::RETRY_AFTER, "1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[test]
fn no_request_leaves_inside_the_retry_after_window_once_the_429s_headers_are_read() {
    let state = Throttling {
        arrived: Arc::default(),
        count: watch::channel(0).0,
        release: watch::channel(false).0,
        throttled_at: Arc::default(),
    };
    let handler_state = state.clone();
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(move || answer(handler_state.clone())),
    ));
    let text = playbook(&format!(
        "  - fetch: {{ids: \"t1,t2,t3,t4,t5,t6,t7,t8\"}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n      concurrency: {CONCURRENCY}\n"
    ));
    let release = state.release.clone();
    let ran = Runbook::play(&text).api(&api).arg("-v").run_reacting(
        |line| line.contains("→ 429"),
        move || {
            release.send_replace(true);
        },
    );
    ran.expect_code(0);
    let throttled_at = state
        .throttled_at
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .expect("the 429 was answered");
    let requests = api.requests();
    assert_eq!(
        requests.len(),
        9,
        "eight retries and one resend of the throttled one"
    );
    for later in &requests[CONCURRENCY..] {
        let after = later.arrived.saturating_duration_since(throttled_at);
        assert!(
            after >= Duration::from_secs(1),
            "{} {} arrived {after:?} after the 429 left: inside its Retry-After window",
            later.method,
            later.path
        );
    }
}
