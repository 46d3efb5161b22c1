//! Proxies from the environment (`HTTP_PROXY`, `NO_PROXY`, as curl reads them): a request a proxy
//! takes is sent to the proxy in absolute form, with the proxy's own credentials; one `NO_PROXY`
//! names goes straight to its host. The proxy here is a fake API on 127.0.0.1; the provider's host
//! (`tasks.example`, a reserved name) is never looked up, so only a proxied request can reach it.

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

const STEPS: &str = "  - fetch:\n      request: {path: /tasks}\n      items: \"$.tasks[*]\"\n  - filter: {status_in: [failed]}\n  - retry:\n      request: {method: POST, path: \"/tasks/{{ task.id | urlencode }}/retry\"}\n";

fn provider() -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    Json(json!({"tasks": [
                        {"id": "t1", "status": "failed"},
                        {"id": "t2", "status": "succeeded"},
                    ]}))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { StatusCode::NO_CONTENT }),
            ),
    )
}

/// The test playbook with a bearer key, pointed at `base_url`.
fn text() -> String {
    playbook(STEPS).replace(
        "  backoff:",
        "  headers:\n    Authorization: \"Bearer {{ secret('KEY') }}\"\n  backoff:",
    )
}

#[test]
fn a_proxy_from_the_environment_carries_every_request_with_its_own_credentials() {
    let proxy = provider();
    let at = proxy.url().replace("http://", "http://ops:s3cret@");
    let ran = Runbook::play(&text())
        .env("API_URL", "http://tasks.example")
        .env("KEY", "key-0123456789")
        .env("HTTP_PROXY", &at)
        .run();
    ran.expect_code(0);
    assert_eq!(ran.item("t1")["outcome"], "retried", "{}", ran.stderr);
    let seen = proxy.requests();
    let lines: Vec<(String, String)> = seen
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("GET".to_string(), "/tasks".to_string()),
            ("POST".to_string(), "/tasks/t1/retry".to_string()),
        ]
    );
    for request in &seen {
        assert_eq!(request.header("host"), Some("tasks.example"));
        assert_eq!(
            request.header("authorization"),
            Some("Bearer key-0123456789")
        );
        // base64 of `ops:s3cret`.
        assert_eq!(
            request.header("proxy-authorization"),
            Some("Basic b3BzOnMzY3JldA==")
        );
    }
}

#[test]
fn no_proxy_sends_a_named_host_straight_to_it() {
    let proxy = FakeApi::start(Router::new().fallback(|| async { StatusCode::BAD_GATEWAY }));
    let api = provider();
    let ran = Runbook::play(&text())
        .api(&api)
        .env("KEY", "key-0123456789")
        .env("HTTP_PROXY", &proxy.url())
        .env("NO_PROXY", "127.0.0.1")
        .run();
    ran.expect_code(0);
    assert_eq!(ran.item("t1")["outcome"], "retried", "{}", ran.stderr);
    assert!(proxy.requests().is_empty(), "the proxy was passed by");
    assert_eq!(api.requests().len(), 2);
    assert!(
        api.requests()
            .iter()
            .all(|r| r.header("proxy-authorization").is_none())
    );
}
