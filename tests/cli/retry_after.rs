//! `Retry-After` in both its forms: the retried request reaches the API no earlier than the API
//! asked, measured on the fake API's own clock (a lower bound no slow machine can break).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

/// An API whose first retry answer is 429 with `Retry-After: retry_after()`, then 200.
fn rate_limited_once(retry_after: impl Fn() -> String + Clone + Send + Sync + 'static) -> FakeApi {
    let calls = Arc::new(AtomicUsize::new(0));
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(move || {
            let calls = Arc::clone(&calls);
            let retry_after = retry_after.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, retry_after())],
                        axum::Json(json!({"message": "slow down"})),
                    )
                        .into_response()
                } else {
                    axum::Json(json!({"status": "queued"})).into_response()
                }
            }
        }),
    ))
}

/// One item, retried with a 10ms backoff: ignoring `Retry-After` would retry almost at once.
fn one_retry() -> String {
    playbook(
        "  - fetch: {ids: t1}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    )
}

fn assert_retried_twice(ran: &crate::Ran) {
    ran.expect_code(0);
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "retried", "{item:#}");
    assert_eq!(item["attempts"], 2, "{item:#}");
    assert_eq!(item["http_status"], 200, "{item:#}");
}

#[test]
fn retry_after_in_seconds_is_waited_for() {
    let api = rate_limited_once(|| "1".to_string());
    let ran = Runbook::play(&one_retry()).api(&api).run();
    assert_retried_twice(&ran);
    let posts = api.with_method("POST");
    assert_eq!(posts.len(), 2);
    let limited_at = posts[0].answered.expect("the 429 was answered");
    let waited = posts[1].arrived.duration_since(limited_at);
    assert!(
        waited >= Duration::from_secs(1),
        "the retry came {waited:?} after a 429 that asked for 1s"
    );
}

#[test]
fn retry_after_as_an_http_date_is_waited_for() {
    // A date two whole seconds ahead (HTTP dates have whole seconds): between 1 and 2 s from now.
    let asked = Arc::new(std::sync::Mutex::new(None));
    let noted = Arc::clone(&asked);
    let api = rate_limited_once(move || {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let when = UNIX_EPOCH + Duration::from_secs(now + 2);
        *noted.lock().expect("not poisoned") = Some(when);
        httpdate::fmt_http_date(when)
    });
    let ran = Runbook::play(&one_retry()).api(&api).run();
    assert_retried_twice(&ran);
    let posts = api.with_method("POST");
    assert_eq!(posts.len(), 2);
    let when = asked
        .lock()
        .expect("not poisoned")
        .expect("a date was sent");
    assert!(
        posts[1].arrived_wall >= when,
        "the retry arrived at {:?}, before the {} asked for",
        posts[1].arrived_wall,
        httpdate::fmt_http_date(when)
    );
}

#[test]
fn a_retry_after_longer_than_allowed_fails_at_once_instead_of_waiting() {
    let api = rate_limited_once(|| "120".to_string());
    let text = one_retry().replace("attempts: 3}", "attempts: 3, max_retry_after: 1s}");
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "failed");
    assert_eq!(item["http_status"], 429);
    let message = item["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("120s") && message.contains("max_retry_after"),
        "{message}"
    );
    assert_eq!(api.with_method("POST").len(), 1, "not tried again");
}

#[test]
fn a_read_waits_for_retry_after_too() {
    let calls = Arc::new(AtomicUsize::new(0));
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        axum::routing::get(move || {
            let calls = Arc::clone(&calls);
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, "1")],
                        "",
                    )
                        .into_response()
                } else {
                    axum::Json(json!({"tasks": [{"id": "a"}]})).into_response()
                }
            }
        }),
    ));
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).arg("--dry-run").run();
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 1);
    let reads = api.requests();
    assert_eq!(reads.len(), 2);
    let waited = reads[1]
        .arrived
        .duration_since(reads[0].answered.expect("answered"));
    assert!(
        waited >= Duration::from_secs(1),
        "read again after {waited:?}"
    );
}

#[test]
fn every_worker_waits_out_a_retry_after() {
    // Two workers. `a` is told to wait 1s; `b` is held by the API until runbook has said it is
    // backing off for `a` (so the shared gate is closed), then answered; `b`'s worker then takes
    // `c`, which must wait for the gate too, although `c` itself was never refused.
    let release = Arc::new(tokio::sync::watch::channel(false).0);
    let released = Arc::clone(&release);
    let refused = Arc::new(AtomicUsize::new(0));
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(
            move |axum::extract::Path(id): axum::extract::Path<String>| {
                let (released, refused) = (Arc::clone(&released), Arc::clone(&refused));
                async move {
                    match id.as_str() {
                        "a" if refused.fetch_add(1, Ordering::SeqCst) == 0 => {
                            return (
                                StatusCode::TOO_MANY_REQUESTS,
                                [(header::RETRY_AFTER, "1")],
                                "",
                            )
                                .into_response();
                        }
                        "b" => {
                            let mut gate = released.subscribe();
                            let _ = tokio::time::timeout(
                                Duration::from_secs(10),
                                gate.wait_for(|r| *r),
                            )
                            .await;
                        }
                        _ => {}
                    }
                    axum::Json(json!({"status": "queued"})).into_response()
                }
            },
        ),
    ));
    let text = playbook(
        "  - fetch: {ids: a b c}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n      concurrency: 2\n",
    );
    let ran = Runbook::play(&text)
        .api(&api)
        .arg("--verbose")
        .run_reacting(
            |line| line.contains("backing off") && line.contains("429"),
            || {
                release.send_replace(true);
            },
        );
    ran.expect_code(0);

    let posts = api.with_method("POST");
    let first = |id: &str| {
        posts
            .iter()
            .find(|r| r.path == format!("/tasks/{id}/retry"))
            .unwrap_or_else(|| panic!("{id} was sent: {posts:#?}"))
            .clone()
    };
    let refused_at = first("a").answered.expect("the 429 was answered");
    let c = first("c");
    let waited = c.arrived.duration_since(refused_at);
    assert!(
        waited >= Duration::from_secs(1),
        "c was sent {waited:?} after a's 429 asked everyone to wait 1s"
    );
    assert_eq!(posts.len(), 4, "a twice, b and c once: {posts:#?}");
}
