//! Every pagination style against a fake API: each item is fetched exactly once, and the API sees
//! exactly the page requests the style implies (no page read twice, none after the last).

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::{FakeApi, Runbook, playbook};

/// `n` tasks `t01`…, all failed.
fn tasks(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"id": format!("t{i:02}"), "status": "failed"}))
        .collect()
}

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("t{i:02}")).collect()
}

/// A playbook that lists with `paginate` and plans a retry of every item (run with `--dry-run`, so
/// the report lists each fetched item once).
fn listing(paginate: &str) -> String {
    playbook(&format!(
        "  - fetch:\n      request: {{path: /tasks}}\n      items: $.tasks[*]\n      paginate:\n{paginate}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n"
    ))
}

fn run_dry(api: &FakeApi, paginate: &str) -> crate::Ran {
    let ran = Runbook::play(&listing(paginate))
        .api(api)
        .arg("--dry-run")
        .run();
    ran.expect_code(0);
    ran
}

fn param(q: &HashMap<String, String>, name: &str) -> Option<u64> {
    q.get(name).and_then(|v| v.parse().ok())
}

fn page_of(all: &[Value], start: usize, size: usize) -> Vec<Value> {
    all.iter().skip(start).take(size).cloned().collect()
}

#[test]
fn page_numbers_with_a_size_stop_on_the_short_page() {
    let all = tasks(23);
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(move |Query(q): Query<HashMap<String, String>>| async move {
            let page = param(&q, "page").unwrap_or(1) as usize;
            let size = param(&q, "per_page").unwrap_or(5) as usize;
            axum::Json(json!({"tasks": page_of(&all, (page - 1) * size, size)}))
        }),
    ));
    let ran = run_dry(
        &api,
        "        page: {param: page, size_param: per_page, size: 10}",
    );
    assert_eq!(ran.total("fetched"), 23);
    assert_eq!(ran.item_ids(), ids(23));
    let requests = api.requests();
    let pages: Vec<(String, String)> = requests
        .iter()
        .map(|r| {
            (
                r.param("page").unwrap_or("-").to_string(),
                r.param("per_page").unwrap_or("-").to_string(),
            )
        })
        .collect();
    assert_eq!(
        pages,
        [("1", "10"), ("2", "10"), ("3", "10")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .to_vec(),
        "pages 1–3, and none after the short third page"
    );
    assert!(requests.iter().all(|r| r.method == "GET"));
}

#[test]
fn page_numbers_without_a_size_stop_on_the_empty_page() {
    let all = tasks(12);
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(move |Query(q): Query<HashMap<String, String>>| async move {
            let page = param(&q, "p").unwrap_or(0) as usize;
            axum::Json(json!({"tasks": page_of(&all, page * 5, 5)}))
        }),
    ));
    let ran = run_dry(&api, "        page: {param: p, start: 0}");
    assert_eq!(ran.total("fetched"), 12);
    assert_eq!(ran.item_ids(), ids(12));
    let pages: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.param("p").unwrap_or("-").to_string())
        .collect();
    assert_eq!(pages, ["0", "1", "2", "3"], "it reads until an empty page");
}

#[test]
fn offsets_advance_by_the_page_size_and_stop_on_a_short_page() {
    let all = tasks(23);
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(move |Query(q): Query<HashMap<String, String>>| async move {
            let offset = param(&q, "skip").unwrap_or(0) as usize;
            let limit = param(&q, "take").unwrap_or(100) as usize;
            axum::Json(json!({"tasks": page_of(&all, offset, limit)}))
        }),
    ));
    let ran = run_dry(
        &api,
        "        offset: {param: skip, limit_param: take, size: 10}",
    );
    assert_eq!(ran.total("fetched"), 23);
    assert_eq!(ran.item_ids(), ids(23));
    let asked: Vec<(String, String)> = api
        .requests()
        .iter()
        .map(|r| {
            (
                r.param("skip").unwrap_or("-").to_string(),
                r.param("take").unwrap_or("-").to_string(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [("0", "10"), ("10", "10"), ("20", "10")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .to_vec()
    );
}

/// A cursor API over 9 tasks in pages of 3 whose last page's `next` is `last_next`.
fn cursor_api(last_next: Value) -> FakeApi {
    let all = tasks(9);
    FakeApi::start(Router::new().route(
        "/tasks",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let all = all.clone();
            let last_next = last_next.clone();
            async move {
                let (page, next) = match q.get("cursor").map(String::as_str) {
                    None => (0, json!("c1")),
                    Some("c1") => (1, json!("c2")),
                    Some("c2") => (2, last_next),
                    Some(other) => panic!("unexpected cursor {other}"),
                };
                axum::Json(json!({"tasks": page_of(&all, page * 3, 3), "meta": {"next": next}}))
            }
        }),
    ))
}

fn cursors_asked(api: &FakeApi) -> Vec<String> {
    api.requests()
        .iter()
        .map(|r| r.param("cursor").unwrap_or("-").to_string())
        .collect()
}

#[test]
fn cursor_stops_on_a_null_cursor() {
    let api = cursor_api(Value::Null);
    let ran = run_dry(&api, "        cursor: {param: cursor, next: $.meta.next}");
    assert_eq!(ran.total("fetched"), 9);
    assert_eq!(ran.item_ids(), ids(9));
    assert_eq!(cursors_asked(&api), ["-", "c1", "c2"]);
}

#[test]
fn cursor_stops_on_an_empty_cursor() {
    let api = cursor_api(json!(""));
    let ran = run_dry(&api, "        cursor: {param: cursor, next: $.meta.next}");
    assert_eq!(ran.total("fetched"), 9);
    assert_eq!(ran.item_ids(), ids(9));
    assert_eq!(cursors_asked(&api), ["-", "c1", "c2"]);
}

#[test]
fn cursor_stops_on_a_repeated_cursor_with_a_warning() {
    // The third page names `c1` again: following it would loop forever.
    let api = cursor_api(json!("c1"));
    let ran = run_dry(&api, "        cursor: {param: cursor, next: $.meta.next}");
    assert_eq!(ran.total("fetched"), 9);
    assert_eq!(ran.item_ids(), ids(9));
    assert_eq!(cursors_asked(&api), ["-", "c1", "c2"]);
    assert!(
        ran.stderr.contains("same next page twice"),
        "a warning says why the listing stopped:\n{ran:?}"
    );
}

#[test]
fn cursor_in_the_body_is_sent_as_a_top_level_field() {
    let all = tasks(6);
    let api = FakeApi::start(Router::new().route(
        "/search",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| async move {
            let (page, next) = match body["after"].as_str() {
                None => (0, json!("k1")),
                Some("k1") => (1, Value::Null),
                Some(other) => panic!("unexpected cursor {other}"),
            };
            axum::Json(json!({"tasks": page_of(&all, page * 3, 3), "next": next}))
        }),
    ));
    let text = playbook(
        "  - fetch:\n      request: {method: POST, path: /search, body: {status: failed}}\n      items: $.tasks[*]\n      paginate:\n        cursor: {param: after, location: body, next: $.next}\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).arg("--dry-run").run();
    ran.expect_code(0);
    assert_eq!(ran.item_ids(), ids(6));
    let bodies: Vec<Value> = api.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        bodies,
        [
            json!({"status": "failed"}),
            json!({"status": "failed", "after": "k1"})
        ]
    );
}

#[test]
fn next_link_by_jsonpath_follows_relative_links() {
    let all = tasks(7);
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(move |Query(q): Query<HashMap<String, String>>| async move {
            let from = param(&q, "from").unwrap_or(0) as usize;
            let next = (from + 3 < all.len()).then(|| format!("/tasks?from={}", from + 3));
            axum::Json(json!({"tasks": page_of(&all, from, 3), "links": {"next": next}}))
        }),
    ));
    let ran = run_dry(&api, "        next_link: {path: $.links.next}");
    assert_eq!(ran.total("fetched"), 7);
    assert_eq!(ran.item_ids(), ids(7));
    let froms: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.param("from").unwrap_or("-").to_string())
        .collect();
    assert_eq!(froms, ["-", "3", "6"]);
}

#[test]
fn next_link_by_link_header_follows_rel_next() {
    let all = tasks(7);
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(
            move |Query(q): Query<HashMap<String, String>>, headers: HeaderMap| async move {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let page = param(&q, "page").unwrap_or(1) as usize;
                let mut links = vec![format!("<http://{host}/tasks?page=1>; rel=\"first\"")];
                if page * 3 < all.len() {
                    links.push(format!(
                        "<http://{host}/tasks?page={}>; rel=\"next\"",
                        page + 1
                    ));
                }
                let mut response =
                    axum::Json(json!({"tasks": page_of(&all, (page - 1) * 3, 3)})).into_response();
                let value = HeaderValue::from_str(&links.join(", ")).expect("a header value");
                response.headers_mut().insert(header::LINK, value);
                response
            },
        ),
    ));
    let ran = run_dry(&api, "        next_link: {header: Link}");
    assert_eq!(ran.total("fetched"), 7);
    assert_eq!(ran.item_ids(), ids(7));
    let pages: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.param("page").unwrap_or("-").to_string())
        .collect();
    assert_eq!(pages, ["-", "2", "3"]);
}

/// Regression: a comma inside a `Link` URL (`?status=failed,timed_out`) split the header there,
/// and the next page was requested at a wrong URL.
#[test]
fn next_link_header_urls_may_hold_commas_and_several_rels() {
    let all = tasks(7);
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(
            move |Query(q): Query<HashMap<String, String>>, headers: HeaderMap| async move {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let page = param(&q, "page").unwrap_or(1) as usize;
                let url =
                    |p: usize| format!("http://{host}/tasks?status=failed,timed_out&page={p}");
                let mut links = vec![format!("<{}>; rel=\"first\"", url(1))];
                if page * 3 < all.len() {
                    links.push(format!("<{}>; rel=\"next nofollow\"", url(page + 1)));
                }
                let mut response =
                    axum::Json(json!({"tasks": page_of(&all, (page - 1) * 3, 3)})).into_response();
                let value = HeaderValue::from_str(&links.join(", ")).expect("a header value");
                response.headers_mut().insert(header::LINK, value);
                response
            },
        ),
    ));
    let ran = run_dry(&api, "        next_link: {header: link}");
    assert_eq!(ran.item_ids(), ids(7));
    let asked: Vec<(String, String)> = api
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.param("page").unwrap_or("-").to_string()))
        .collect();
    assert_eq!(
        asked,
        [("/tasks", "-"), ("/tasks", "2"), ("/tasks", "3")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .to_vec()
    );
    assert!(
        api.requests()[1..]
            .iter()
            .all(|r| r.param("status") == Some("failed,timed_out")),
        "the whole link was followed"
    );
}

/// Regression: a next link to another host got the playbook's headers, credentials included.
#[test]
fn a_next_link_to_another_host_is_not_followed_with_the_credentials() {
    let elsewhere = FakeApi::start(Router::new().route(
        "/tasks",
        get(|| async { axum::Json(json!({"tasks": [], "links": {"next": null}})) }),
    ));
    // Another origin: the same address on another port.
    let other_host = format!("{}/tasks?from=3", elsewhere.url());
    let all = tasks(3);
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(move || {
            let body = json!({"tasks": all.clone(), "links": {"next": other_host.clone()}});
            async move { axum::Json(body) }
        }),
    ));
    let text = listing("        next_link: {path: $.links.next}").replace(
        "  backoff:",
        "  headers:\n    Authorization: \"Bearer {{ secret('API_TOKEN') }}\"\n  backoff:",
    );
    let ran = Runbook::play(&text)
        .api(&api)
        .env("API_TOKEN", "token-for-the-api-only")
        .arg("--dry-run")
        .run();
    ran.expect_code(1);
    assert!(
        elsewhere.requests().is_empty(),
        "nothing went to the other host"
    );
    assert!(ran.stdout.contains("another host"), "{ran:?}");
}
