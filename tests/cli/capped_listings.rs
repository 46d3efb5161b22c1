//! Issue 13, point 4, on the generic adapter: a listing may declare its API's `cap` (an unpaged
//! answer holding that many may be truncated: a warning, the report's `errors`, exit 1), and may be
//! narrowed with `each:` (one listing per item of the first: each project's tasks).

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

/// `/tasks` answers three failed tasks (whatever `limit` says); `/projects` two projects, each with
/// two failed tasks under `/projects/{id}`; retries succeed.
fn api() -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    axum::Json(json!({"tasks": [
                        {"id": "t1", "status": "failed"},
                        {"id": "t2", "status": "failed"},
                        {"id": "t3", "status": "failed"},
                    ]}))
                }),
            )
            .route(
                "/projects",
                get(|| async { axum::Json(json!({"projects": [{"id": "p1"}, {"id": "p2"}]})) }),
            )
            .route(
                "/projects/{id}",
                get(|Path(id): Path<String>| async move {
                    axum::Json(json!({"tasks": [
                        {"id": format!("{id}-a"), "status": "failed"},
                        {"id": format!("{id}-b"), "status": "failed"},
                    ]}))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { axum::Json(json!({"ok": true})) }),
            ),
    )
}

const RETRY: &str = "  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n";

fn capped(cap: u64) -> String {
    playbook(&format!(
        "  - name: listed\n    fetch:\n      request: {{path: /tasks, query: {{limit: 1000}}}}\n      items: $.tasks[*]\n      cap: {cap}\n{RETRY}"
    ))
}

#[test]
fn an_answer_holding_the_cap_is_possibly_truncated_and_exits_1() {
    let api = api();
    let ran = Runbook::play(&capped(3)).api(&api).run();
    ran.expect_code(1);
    let report = ran.report();
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{report:#}");
    assert_eq!(errors[0]["step"], "listed");
    let expected = format!(
        "possibly truncated: GET {}/tasks?limit=1000 returned 3 items, the most this API returns in one answer (cap: 3), so items beyond them may exist and were not seen. Narrow the listing (a narrower query, or `each:` to list per project) until no answer holds 3 items",
        api.url()
    );
    assert_eq!(errors[0]["message"], expected.as_str());
    assert!(
        ran.stderr
            .contains(&format!("warning: step listed: {expected}")),
        "{ran:?}"
    );
    assert_eq!(
        ran.total("retried"),
        3,
        "the items seen are still worked on"
    );
}

#[test]
fn an_answer_under_the_cap_is_whole() {
    let api = api();
    let ran = Runbook::play(&capped(4)).api(&api).run();
    ran.expect_code(0);
    assert_eq!(ran.report()["errors"], json!([]));
    assert!(!ran.stderr.contains("truncated"), "{ran:?}");
}

/// `each:` lists each project's tasks: the step's items are the tasks (the projects are neither
/// fetched items nor retried), and each inner listing has its own cap.
#[test]
fn each_lists_the_items_of_every_outer_item() {
    let api = api();
    let text = playbook(&format!(
        "  - fetch:\n      request: {{path: /projects}}\n      items: $.projects[*]\n      cap: 100\n      each:\n        request: {{path: \"/projects/{{{{ item.id | urlencode }}}}\"}}\n        items: $.tasks[*]\n        cap: 2\n{RETRY}"
    ));
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    assert_eq!(ran.total("fetched"), 4);
    let mut retried: Vec<String> = api
        .with_method("POST")
        .into_iter()
        .map(|r| r.path)
        .collect();
    retried.sort();
    assert_eq!(
        retried,
        [
            "/tasks/p1-a/retry",
            "/tasks/p1-b/retry",
            "/tasks/p2-a/retry",
            "/tasks/p2-b/retry"
        ]
    );
    let report = ran.report();
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["message"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(errors.len(), 2, "each project's answer held the cap of 2");
    assert!(
        errors[0].contains("/projects/p1 returned 2 items"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("/projects/p2 returned 2 items"),
        "{errors:?}"
    );
}

#[test]
fn cap_with_pagination_is_refused_before_anything_is_sent() {
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n      cap: 100\n      paginate: {page: {param: page}}\n",
    );
    let ran = Runbook::validate(&text).run();
    ran.expect_code(2);
    assert!(
        ran.stderr.contains(
            "`cap` is for a listing without pagination (a paged listing goes on to the next page)"
        ),
        "{ran:?}"
    );
}

/// The items of all `each:` listings together count against the step's `max_items`.
#[test]
fn each_listings_together_are_held_to_max_items() {
    let api = api();
    let text = playbook(&format!(
        "  - fetch:\n      request: {{path: /projects}}\n      items: $.projects[*]\n      max_items: 3\n      each:\n        request: {{path: \"/projects/{{{{ item.id | urlencode }}}}\"}}\n        items: $.tasks[*]\n{RETRY}"
    ));
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(3);
    assert!(api.with_method("POST").is_empty(), "nothing was retried");
    let aborted = ran.report()["aborted"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        aborted.starts_with(
            "step fetch: the listings have more items (4 by listing 2 of 2) than max_items = 3"
        ),
        "{aborted}"
    );
}
