//! Pacing of retry steps: `concurrency` puts that many requests in flight (the fake API counts the
//! overlap), and a `rate` is shared by all the workers, so the API still sees requests spaced by
//! the rate's interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use serde_json::json;
use tokio::sync::watch;

use crate::{FakeApi, Runbook, playbook};

#[test]
fn rate_is_shared_across_concurrent_workers() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { axum::Json(json!({"status": "queued"})) }),
    ));
    let text = playbook(
        "  - fetch: {ids: \"a b c d e f g h\"}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n      concurrency: 4\n      rate: 10/s\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    assert_eq!(ran.total("retried"), 8);
    let posts = api.with_method("POST");
    assert_eq!(posts.len(), 8);
    // 10/s is one request per 100ms; allow 40ms for scheduling on a busy machine. Without the shared
    // limiter, four workers would arrive within a millisecond or two of each other.
    let gaps: Vec<Duration> = posts
        .windows(2)
        .map(|w| w[1].arrived.duration_since(w[0].arrived))
        .collect();
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(60)),
        "requests closer than the rate allows: {gaps:?}"
    );
}

/// An API whose retry handler holds each request until `expected` are in flight together (or a
/// generous deadline passes); the channel holds the most it saw at once.
fn overlapping(expected: usize) -> (FakeApi, Arc<watch::Sender<usize>>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(watch::channel(0usize).0);
    let seen = Arc::clone(&most);
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(move || {
            let (in_flight, most) = (Arc::clone(&in_flight), Arc::clone(&most));
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.send_modify(|m| *m = (*m).max(now));
                // Wait for the others, not for time: released as soon as `expected` overlap.
                let mut changes = most.subscribe();
                let _ = tokio::time::timeout(
                    Duration::from_secs(10),
                    changes.wait_for(|m| *m >= expected),
                )
                .await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({"status": "queued"}))
            }
        }),
    ));
    (api, seen)
}

#[test]
fn concurrency_puts_that_many_requests_in_flight() {
    let (api, most) = overlapping(4);
    let text = playbook(
        "  - fetch: {ids: \"a b c d e f g h\"}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n      concurrency: 4\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    assert_eq!(ran.total("retried"), 8);
    assert_eq!(*most.borrow(), 4, "four in flight at once, never more");
}

#[test]
fn cli_concurrency_overrides_the_playbook() {
    // Expecting 1 releases every request at once: this only counts the overlap.
    let (api, most) = overlapping(1);
    let text = playbook(
        "  - fetch: {ids: \"a b c d e f\"}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n      concurrency: 4\n",
    );
    let ran = Runbook::play(&text)
        .api(&api)
        .args(["--concurrency", "1"])
        .run();
    ran.expect_code(0);
    assert_eq!(ran.total("retried"), 6);
    assert_eq!(*most.borrow(), 1, "one at a time");
}
