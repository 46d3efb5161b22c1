//! A listing whose items only the next filter reads is filtered page by page as it arrives (issue
//! 9), and a run reports exactly what filtering after the whole listing would: the fetch's count,
//! the filter's "kept N of M", the order of the items, the filter's limit, and `max_items` over
//! every item read (not only those kept).

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use serde_json::{Value, json};

use crate::{FakeApi, Runbook, playbook};

/// A cursor-paged listing of `pages` pages of `per_page` tasks; every third task is failed.
fn api(pages: usize, per_page: usize) -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks",
        get(move |Query(q): Query<HashMap<String, String>>| async move {
            let page: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(1);
            let tasks: Vec<Value> = (0..per_page)
                .map(|i| {
                    let status = if i % 3 == 0 { "failed" } else { "completed" };
                    json!({"id": format!("p{page:03}-{i:02}"), "status": status, "n": i})
                })
                .collect();
            let next = (page < pages).then(|| (page + 1).to_string());
            axum::Json(json!({"tasks": tasks, "next": next}))
        }),
    ))
}

/// The failed ids of `api(pages, per_page)`, in listing order.
fn failed_ids(pages: usize, per_page: usize) -> Vec<String> {
    (1..=pages)
        .flat_map(|page| {
            (0..per_page)
                .step_by(3)
                .map(move |i| format!("p{page:03}-{i:02}"))
        })
        .collect()
}

/// Fetch every page as `all`, filter it as `failed` with `filter`, plan a retry per kept item whose
/// URL reads `retry_query` (a template).
fn listing(filter: &str, max_items: u64, retry_query: &str) -> String {
    playbook(&format!(
        "  - name: all\n    fetch:\n      request: {{path: /tasks}}\n      items: $.tasks[*]\n      paginate: {{cursor: {{next: $.next}}, max_pages: 1000}}\n      max_items: {max_items}\n  - name: failed\n    filter: {filter}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\", query: {{of: \"{retry_query}\"}}}}\n"
    ))
}

/// Plan the retries of [`listing`] against `api` (`--dry-run`); it exits 0. The first planned
/// request's URL beside the run.
fn plan(api: &FakeApi, filter: &str, retry_query: &str) -> (crate::Ran, String) {
    let ran = Runbook::play(&listing(filter, 50_000, retry_query))
        .api(api)
        .arg("--dry-run")
        .run();
    ran.expect_code(0);
    let report = ran.report();
    let url = report["items"][0]["request"]["url"].as_str().unwrap_or("");
    let url = url.to_string();
    (ran, url)
}

#[test]
fn many_pages_filtered_as_they_arrive_keep_the_count_order_and_limit() {
    let api = api(40, 25);
    let (ran, url) = plan(
        &api,
        "{status_in: [failed], limit: 100}",
        "{{ steps.all.count }}",
    );
    assert_eq!(ran.total("fetched"), 1000, "{ran:?}");
    let expected: Vec<String> = failed_ids(40, 25).into_iter().take(100).collect();
    assert_eq!(ran.item_ids(), expected, "the first 100 failed, in order");
    assert!(ran.stderr.contains(" fetch all: 1000 items\n"), "{ran:?}");
    assert!(
        ran.stderr.contains(" filter failed: kept 100 of 1000\n"),
        "{ran:?}"
    );
    assert!(
        url.ends_with("/tasks/p001-00/retry?of=1000"),
        "steps.all.count is every item read: {url}"
    );
    assert_eq!(api.requests().len(), 40, "every page read once");
}

#[test]
fn max_items_counts_every_item_read_not_only_those_the_filter_keeps() {
    let api = api(5, 10);
    let ran = Runbook::play(&listing("{status_in: [failed]}", 30, "x"))
        .api(&api)
        .run();
    ran.expect_code(3);
    assert_eq!(
        ran.report()["aborted"]
            .as_str()
            .and_then(|a| a.split_once(';'))
            .map(|(what, _)| what),
        Some("step all: the listing has more items (40 by page 4) than max_items = 30"),
        "{ran:?}"
    );
    assert!(api.with_method("POST").is_empty(), "nothing was retried");
}

#[test]
fn a_later_template_reading_the_fetched_items_sees_every_one() {
    let api = api(12, 25);
    let (ran, url) = plan(
        &api,
        "{status_in: [failed]}",
        "{{ steps.all.items | length }}-{{ steps.all.items[299].id }}",
    );
    assert_eq!(ran.item_ids(), failed_ids(12, 25));
    assert!(url.ends_with("?of=300-p012-24"), "{url}");
    assert!(
        ran.stderr.contains(" filter failed: kept 108 of 300\n"),
        "{ran:?}"
    );
}
