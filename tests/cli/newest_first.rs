//! Listings sorted newest first end early: with `paginate.order: newest_first`, paging stops after
//! the first page whose items are all older than the window (the reading filter's `since`, or the
//! fetch's `stop_before`), so an API with no date filter (Skyvern) is not read back to its first
//! run, and `max_pages` guards only what the window needs. A page with an item whose time cannot
//! be read never stops it.

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::routing::{get, post};
use runbook::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::{FakeApi, Runbook, playbook, repo_path};

/// Ten pages of five failed tasks, one hour apart, newest first: page 1 is the last five hours,
/// page 10 two days ago; each page says the listing's `total` (50), which a listing that stops
/// early does not reach. `bad` (page, index) has no readable time.
fn hourly(bad: Option<(u64, u64)>) -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(move |Query(q): Query<HashMap<String, String>>| async move {
                    let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                    let now = jiff::Timestamp::now();
                    let tasks: Vec<Value> = if page > 10 {
                        Vec::new()
                    } else {
                        (0..5)
                            .map(|i| {
                                let n = (page - 1) * 5 + i;
                                let hours = i64::try_from(n).unwrap_or(0);
                                let at = now - jiff::SignedDuration::from_hours(hours);
                                let created = if bad == Some((page, i)) {
                                    json!("yesterday-ish")
                                } else {
                                    json!(at.to_string())
                                };
                                json!({"id": format!("t{n}"), "status": "failed", "created_at": created})
                            })
                            .collect()
                    };
                    axum::Json(json!({ "tasks": tasks, "total": 50 }))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { axum::Json(json!({})) }),
            ),
    )
}

fn paged(extra_fetch: &str, filter: &str) -> String {
    playbook(&format!(
        r#"  - fetch:
      request: {{path: /tasks}}
      items: $.tasks[*]
      total: $.total
      paginate:
        page: {{size: 5}}
        order: newest_first
        time: $.created_at
        max_pages: 4
{extra_fetch}  - filter: {{status_in: [failed]{filter}}}
  - retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
"#
    ))
}

fn pages_read(api: &FakeApi) -> Vec<String> {
    api.with_method("GET")
        .iter()
        .map(|r| r.param("page").unwrap_or_default().to_string())
        .collect()
}

#[test]
fn paging_stops_at_the_first_page_older_than_the_filters_since() {
    // Items 0..=7 are within 7h30m: pages 1 and 2 hold them; page 3 (10h to 14h ago) is all older.
    let api = hourly(None);
    let ran = Runbook::play(&paged("", ", since: 7h30m")).api(&api).run();
    ran.expect_code(0);
    assert_eq!(pages_read(&api), ["1", "2", "3"], "{ran:?}");
    assert_eq!(ran.total("fetched"), 15);
    assert_eq!(ran.total("retried"), 8);
}

#[test]
fn an_explicit_stop_before_wins_and_a_listing_past_max_pages_still_aborts_without_one() {
    let api = hourly(None);
    let ran = Runbook::play(&paged("      stop_before: 2h\n", ""))
        .api(&api)
        .run();
    ran.expect_code(0);
    assert_eq!(pages_read(&api), ["1", "2"]);
    assert_eq!(ran.total("retried"), 10, "no filter window: all fetched");

    // No window at all: every page is needed, and ten are more than max_pages = 4.
    let api = hourly(None);
    let ran = Runbook::play(&paged("", "")).api(&api).run();
    ran.expect_code(3);
    assert_eq!(pages_read(&api), ["1", "2", "3", "4"]);
}

#[test]
fn an_item_without_a_readable_time_never_ends_the_paging() {
    // Page 3 would end it, but one of its items has no time: page 4 is read and ends it.
    let api = hourly(Some((3, 2)));
    let ran = Runbook::play(&paged("", ", since: 7h30m")).api(&api).run();
    ran.expect_code(0);
    assert_eq!(pages_read(&api), ["1", "2", "3", "4"], "{ran:?}");
}

#[test]
fn stop_before_needs_a_listing_ordered_newest_first() {
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n      paginate: {page: {size: 5}}\n      stop_before: 3d\n",
    );
    let ran = Runbook::validate(&text).run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: `stop_before` stops paging a listing ordered newest first, and this one is not
  --> playbook.yaml:11:20
   |
11 |       stop_before: 3d
   |                    ^^
   = help: add `order: newest_first` (and `time:`) to `paginate`, if the API sorts so
",
        "{ran:?}"
    );
}

/// Skyvern's adapter declares its order, and a playbook that pages its own way keeps it: with two
/// runs a page, the sandbox's ten recent failed runs fill five pages; the sixth holds only runs
/// older than `since` and is the last read, though the listing goes on.
#[tokio::test(flavor = "multi_thread")]
async fn skyvern_listing_stops_at_the_first_page_older_than_since() {
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("the sandbox starts");
    let text = std::fs::read_to_string(repo_path("playbooks/skyvern-failed.yaml"))
        .expect("the shipped playbook")
        .replace(
            "          status: [failed, timed_out]\n",
            "          status: [failed, timed_out]\n      paginate:\n        page: {param: page, size_param: page_size, size: 2}\n        max_pages: 6\n",
        );
    assert!(text.contains("size: 2"), "the playbook changed as meant");
    let key = sandbox
        .credentials()
        .into_iter()
        .find(|(name, _)| name == "SKYVERN_API_KEY")
        .map(|(_, value)| value)
        .expect("a key");
    let runbook = Runbook::play(&text)
        .env(
            "SKYVERN_BASE_URL",
            &sandbox.base_url("skyvern").expect("skyvern"),
        )
        .env("SKYVERN_API_KEY", &key);
    let ran = tokio::task::spawn_blocking(move || runbook.run())
        .await
        .expect("the run finishes");
    ran.expect_code(0);
    let pages: Vec<String> = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| {
            r.query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(pages, ["1", "2", "3", "4", "5", "6"], "{ran:?}");
    assert_eq!(ran.total("fetched"), 12);
    assert_eq!(ran.total("retried"), 10);
    sandbox.shutdown().await;
}
