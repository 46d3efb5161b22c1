//! Redirects (issue 7, case 1): a provider's `3xx` cannot steer a credential or a retry elsewhere.
//!
//! - A request that changes anything (a retry) never follows a redirect, whatever its status: it is
//!   not sent again, to the same place or another, nor turned into a GET; its item is `failed`
//!   naming the `Location` (`unknown` after a 303, which says it was carried out).
//! - A read follows a redirect to the API's own origin (with its headers); one to another origin
//!   is an error naming the `Location` unless the playbook says `connection.redirects: any`, and
//!   even then it carries none of the connection's or the adapter's headers.
//!
//! Each built-in adapter is driven against a fake API that answers every request with a 307 to a
//! second fake API on another port, with the opt-in set (the worst case): the second API must never
//! see a credential, and must never see the retry.

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{FakeApi, Ran, Runbook, playbook};

/// The only headers a request to another origin may carry: none of them is a credential.
const BARE_HEADERS: &[&str] = &[
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "content-type",
    "content-length",
];

/// An API that sends every request, whatever its method and path, to `elsewhere` with `status`.
fn redirecting_everything(status: StatusCode, elsewhere: String) -> Router {
    Router::new().fallback(move |uri: Uri| {
        let elsewhere = elsewhere.clone();
        async move { (status, [(header::LOCATION, format!("{elsewhere}{uri}"))]).into_response() }
    })
}

/// An API that answers everything with an empty JSON object.
fn accepting_everything() -> Router {
    Router::new().fallback(|| async { axum::Json(json!({})) })
}

/// The report's items of step `step`.
fn step_items(ran: &Ran, step: &str) -> Vec<Value> {
    ran.report()["items"]
        .as_array()
        .expect("items is an array")
        .iter()
        .filter(|i| i["step"] == step)
        .cloned()
        .collect()
}

/// One built-in adapter as these tests drive it.
struct Adapter {
    provider: &'static str,
    /// The variable that points it at another host.
    base_url_var: &'static str,
    /// Its credentials (and workspace ids), with values nobody else would send.
    env: &'static [(&'static str, &'static str)],
    /// `connection.options`, if any.
    options: &'static str,
    /// One task as its listing gives it.
    task: Value,
    /// The path its retry of that task is sent to.
    retry_path: &'static str,
}

fn adapters() -> Vec<(&'static str, Adapter)> {
    vec![
        (
            "beam",
            Adapter {
                provider: "beam",
                base_url_var: "BEAM_BASE_URL",
                env: &[
                    ("BEAM_API_KEY", "beam-key-7f3a9c1e55"),
                    ("BEAM_WORKSPACE_ID", "beam-workspace-4411"),
                ],
                options: "",
                task: json!({"id": "t1", "status": "FAILED"}),
                retry_path: "/agent-tasks/retry",
            },
        ),
        (
            "deepwork",
            Adapter {
                provider: "deepwork",
                base_url_var: "DEEPWORK_BASE_URL",
                env: &[("DEEPWORK_TOKEN", "pp_deepwork-token-93be0c")],
                options: "",
                task: json!({"id": "t1", "project_id": "p1", "status": "blocked"}),
                retry_path: "/api/deep-work/projects/p1/tasks/t1/retry",
            },
        ),
        (
            "herodotus",
            Adapter {
                provider: "herodotus",
                base_url_var: "HERODOTUS_BASE_URL",
                env: &[("HERODOTUS_API_KEY", "hdp-key-2c81d07f4b")],
                options: "",
                task: json!({"id": "t1", "status": "DryRunFailed"}),
                retry_path: "/tasks/t1/retry",
            },
        ),
        (
            "geelark key mode",
            Adapter {
                provider: "geelark",
                base_url_var: "GEELARK_BASE_URL",
                env: &[
                    ("GEELARK_APP_ID", "geelark-app-5521"),
                    ("GEELARK_API_KEY", "geelark-key-e09d7a31"),
                ],
                options: "",
                task: json!({"id": "t1", "status": 4}),
                retry_path: "/open/v1/task/restart",
            },
        ),
        (
            "geelark token mode",
            Adapter {
                provider: "geelark",
                base_url_var: "GEELARK_BASE_URL",
                env: &[("GEELARK_TOKEN", "geelark-token-b7c2f00a")],
                options: "",
                task: json!({"id": "t1", "status": 4}),
                retry_path: "/open/v1/task/restart",
            },
        ),
        (
            "skyvern",
            Adapter {
                provider: "skyvern",
                base_url_var: "SKYVERN_BASE_URL",
                env: &[("SKYVERN_API_KEY", "skyvern-key-61ae93d2")],
                options: "",
                task: json!({"id": "t1", "workflow_run_id": "t1", "status": "failed"}),
                retry_path: "/v1/agents/runs/t1/retry",
            },
        ),
        (
            "http with a secret() header",
            Adapter {
                provider: "http",
                base_url_var: "API_URL",
                env: &[("TASKS_API_TOKEN", "tasks-token-0d4e8b72")],
                options: "  base_url: \"{{ env('API_URL') }}\"\n  headers:\n    X-Tenant-Key: \"{{ secret('TASKS_API_TOKEN') }}\"\n",
                task: json!({"id": "t1", "status": "failed"}),
                retry_path: "/tasks/t1/retry",
            },
        ),
    ]
}

/// The playbook: a listing from a file, each task read again (a read: redirected to the other
/// origin, which the playbook allows), and each retried (never redirected).
fn adapter_playbook(adapter: &Adapter) -> String {
    // The generic adapter has no requests of its own: the playbook gives them.
    let (enrich, retry) = if adapter.provider == "http" {
        (
            "{request: {path: \"/tasks/{{ task.id }}\"}}",
            ", request: {path: \"/tasks/{{ task.id }}/retry\"}",
        )
    } else {
        ("{}", "")
    };
    format!(
        "name: redirected\nprovider: {provider}\nconnection:\n  redirects: any\n  backoff: {{initial: 10ms, max: 50ms, attempts: 3}}\n{options}steps:\n  - name: listed\n    fetch: {{file: tasks.json}}\n  - name: read\n    fetch: {{file: tasks.json, enrich: {enrich}}}\n  - name: retried\n    retry: {{input: listed{retry}}}\n",
        provider = adapter.provider,
        options = adapter.options,
    )
}

#[test]
fn no_adapter_carries_a_credential_to_another_origin_nor_resends_a_retry_there() {
    for (name, adapter) in adapters() {
        let elsewhere = FakeApi::start(accepting_everything());
        let api = FakeApi::start(redirecting_everything(
            StatusCode::TEMPORARY_REDIRECT,
            elsewhere.url(),
        ));
        let tasks = serde_json::to_string(&json!([adapter.task])).expect("JSON");
        let mut run = Runbook::play(&adapter_playbook(&adapter))
            .file("tasks.json", &tasks)
            .env(adapter.base_url_var, &api.url());
        for (var, value) in adapter.env {
            run = run.env(var, value);
        }
        let ran = run.run();
        ran.expect_code(1);

        let retries: Vec<_> = api
            .requests()
            .into_iter()
            .filter(|r| r.path == adapter.retry_path)
            .collect();
        assert_eq!(retries.len(), 1, "{name}: the retry was sent once\n{ran:?}");
        assert_eq!(retries[0].method, "POST", "{name}");
        assert!(
            !elsewhere.requests().is_empty(),
            "{name}: the read followed the redirect the playbook allows"
        );
        for seen in elsewhere.requests() {
            assert_ne!(
                seen.path, adapter.retry_path,
                "{name}: the retry reached the other origin"
            );
            for (header, value) in &seen.headers {
                assert!(
                    BARE_HEADERS.contains(&header.as_str()),
                    "{name}: header {header} reached the other origin: {seen:?}"
                );
                for (_, secret) in adapter.env {
                    assert!(!value.contains(secret), "{name}: {header} carries {secret}");
                }
            }
            for (_, secret) in adapter.env {
                assert!(
                    !seen.body.contains(secret),
                    "{name}: the body carries {secret}"
                );
            }
        }
        let retried = step_items(&ran, "retried");
        assert_eq!(retried.len(), 1, "{name}: {retried:?}");
        assert_eq!(retried[0]["outcome"], "failed", "{name}");
        assert_eq!(
            retried[0]["message"],
            format!(
                "HTTP 307: the provider redirected the request to {}{}; runbook does not follow redirects of requests that change anything, so it was not sent again",
                elsewhere.url(),
                adapter.retry_path
            ),
            "{name}"
        );
    }
}

/// A retry answered with a redirect to the API's own origin, for each status.
fn retry_redirected(status: StatusCode) -> (FakeApi, Ran) {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks/{id}/retry",
                post(move || async move {
                    (status, [(header::LOCATION, "/tasks/moved/retry")]).into_response()
                }),
            )
            .fallback(|| async { StatusCode::NO_CONTENT }),
    );
    let text = playbook(
        "  - fetch: {ids: \"t1\"}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    (api, ran)
}

#[test]
fn a_retry_answered_301_302_307_or_308_is_not_resent_nor_turned_into_a_get() {
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let (api, ran) = retry_redirected(status);
        ran.expect_code(1);
        let sent: Vec<(String, String)> = api
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(
            sent,
            vec![("POST".to_string(), "/tasks/t1/retry".to_string())],
            "HTTP {status}: one POST, and nothing to the Location"
        );
        let item = ran.item("t1");
        assert_eq!(item["outcome"], "failed", "{item}");
        assert_eq!(
            item["message"],
            format!(
                "HTTP {}: the provider redirected the request to /tasks/moved/retry; runbook does not follow redirects of requests that change anything, so it was not sent again",
                status.as_u16()
            )
        );
    }
}

#[test]
fn a_retry_answered_303_is_unknown_since_it_may_have_been_carried_out_and_is_not_resent() {
    let (api, ran) = retry_redirected(StatusCode::SEE_OTHER);
    ran.expect_code(1);
    assert_eq!(api.requests().len(), 1, "one POST, nothing else");
    let item = ran.item("t1");
    assert_eq!(item["outcome"], "unknown", "{item}");
    assert_eq!(
        item["message"],
        "HTTP 303: the provider redirected the request to /tasks/moved/retry; runbook does not follow redirects of requests that change anything, and the provider may have carried it out"
    );
}

/// A listing that moved within the API: `/tasks` sends to `/v2/tasks`.
fn moved_listing(location: String) -> Router {
    Router::new()
        .route(
            "/tasks",
            get(move || {
                let location = location.clone();
                async move { (StatusCode::FOUND, [(header::LOCATION, location)]).into_response() }
            }),
        )
        .route(
            "/v2/tasks",
            get(|| async { axum::Json(json!({"tasks": [{"id": "t1"}]})) }),
        )
}

fn listing_playbook(redirects: &str) -> String {
    playbook("  - name: list\n    fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n")
        .replace(
            "  backoff:",
            &format!(
                "{redirects}  headers:\n    Authorization: \"Bearer {{{{ secret('TOKEN') }}}}\"\n  backoff:"
            ),
        )
}

#[test]
fn a_read_redirected_within_the_api_is_followed_with_its_credentials() {
    let api = FakeApi::start(moved_listing("/v2/tasks".into()));
    let ran = Runbook::play(&listing_playbook(""))
        .api(&api)
        .env("TOKEN", "token-within-0a1b2c3d")
        .run();
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 1);
    let moved = api
        .requests()
        .into_iter()
        .find(|r| r.path == "/v2/tasks")
        .expect("the redirect was followed");
    assert_eq!(
        moved.header("authorization"),
        Some("Bearer token-within-0a1b2c3d")
    );
}

#[test]
fn a_read_redirected_to_another_origin_fails_the_fetch_naming_the_location() {
    let elsewhere = FakeApi::start(moved_listing(String::new()));
    let api = FakeApi::start(moved_listing(format!("{}/v2/tasks", elsewhere.url())));
    let ran = Runbook::play(&listing_playbook(""))
        .api(&api)
        .env("TOKEN", "token-origin-9f8e7d6c")
        .run();
    ran.expect_code(1);
    assert!(
        elsewhere.requests().is_empty(),
        "nothing reached the other origin"
    );
    assert_eq!(
        ran.report()["errors"],
        json!([{
            "step": "list",
            "message": format!(
                "GET {}/tasks: HTTP 302: the provider redirected the request to {}/v2/tasks; runbook follows redirects only to the API's own scheme, host and port (`connection.redirects: any` follows it, without any header)",
                api.url(),
                elsewhere.url()
            ),
        }])
    );
}

#[test]
fn redirects_none_refuses_even_a_redirect_within_the_api() {
    let api = FakeApi::start(moved_listing("/v2/tasks".into()));
    let ran = Runbook::play(&listing_playbook("  redirects: none\n"))
        .api(&api)
        .env("TOKEN", "token-none-5e4d3c2b")
        .run();
    ran.expect_code(1);
    let paths: Vec<String> = api.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, vec!["/tasks".to_string()]);
    let message = ran.report()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.ends_with(
            "HTTP 302: the provider redirected the request to /v2/tasks; the connection follows no redirects (`connection.redirects: none`)"
        ),
        "{message}"
    );
}

#[test]
fn a_redirect_loop_within_the_api_stops_after_five() {
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/tasks")]).into_response() }),
    ));
    let ran = Runbook::play(&listing_playbook(""))
        .api(&api)
        .env("TOKEN", "token-loop-1a2b3c4d")
        .run();
    ran.expect_code(1);
    // A redirect is an answer, not a transient failure: one attempt, of the first request and
    // five redirects.
    assert_eq!(api.requests().len(), 6);
}

#[test]
fn a_read_by_post_answered_303_reads_the_location_with_a_get() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/search",
                post(|| async {
                    (StatusCode::SEE_OTHER, [(header::LOCATION, "/results/1")]).into_response()
                }),
            )
            .route(
                "/results/1",
                get(|| async { axum::Json(json!({"tasks": [{"id": "t1"}]})) }),
            ),
    );
    let text = listing_playbook("").replace(
        "request: {path: /tasks}",
        "request: {method: POST, path: /search, body: {status: failed}}",
    );
    let ran = Runbook::play(&text)
        .api(&api)
        .env("TOKEN", "token-search-77aa88bb")
        .run();
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 1);
    let sent: Vec<(String, String, String)> = api
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path, r.body))
        .collect();
    assert_eq!(
        sent,
        vec![
            (
                "POST".into(),
                "/search".into(),
                r#"{"status":"failed"}"#.into()
            ),
            ("GET".into(), "/results/1".into(), String::new()),
        ]
    );
}
