//! A retry step's `rate` is shared by all its workers: with four requests in flight allowed, the
//! fake API still sees them spaced by the rate's interval.

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use serde_json::json;

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
