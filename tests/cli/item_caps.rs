//! What one run may hold (issue 7, case 6): a fetch step past `max_items` aborts the run (exit 3,
//! report written, nothing retried) instead of growing until memory runs out, and a JSONPath whose
//! work would explode (more than one `..`) is refused when the playbook is loaded. Inputs stay small
//! by lowering `max_items` in the playbook.

use std::collections::HashMap;

use axum::Router;
use axum::extract::Query;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

/// How the abort message goes on after what was seen and the cap.
const HOW_TO_RAISE: &str = "stopped rather than hold them all in memory. Raise `max_items` on this fetch step (a number, or a template like \"{{ vars.max_items }}\" to set it with --var) or narrow the query";

/// A listing of `per_page` tasks a page, `pages` pages long (cursor pagination), and a retry endpoint.
fn tasks(pages: u64, per_page: u64) -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(move |Query(q): Query<HashMap<String, String>>| async move {
                    let page: u64 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
                    let tasks: Vec<_> = (0..per_page)
                        .map(|i| json!({"id": format!("p{page}-{i}"), "status": "failed"}))
                        .collect();
                    let next = (page + 1 < pages).then(|| (page + 1).to_string());
                    axum::Json(json!({"tasks": tasks, "next": next}))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { axum::Json(json!({"ok": true})) }),
            ),
    )
}

fn listing(max_items: &str) -> String {
    playbook(&format!(
        "  - fetch:\n      request: {{path: /tasks}}\n      items: $.tasks[*]\n      paginate: {{cursor: {{next: $.next}}}}\n      max_items: {max_items}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n"
    ))
}

#[test]
fn more_items_than_max_items_aborts_naming_the_cap_and_how_to_raise_it() {
    let api = tasks(1, 5);
    let ran = Runbook::play(&listing("3")).api(&api).run();
    ran.expect_code(3);
    let report = ran.report();
    assert_eq!(
        report["aborted"],
        format!(
            "step fetch: the listing has more items (5 by page 1) than max_items = 3; {HOW_TO_RAISE}"
        ),
        "{report:#}"
    );
    assert!(api.with_method("POST").is_empty(), "nothing was retried");
    assert!(
        ran.stdout
            .contains("ABORTED: step fetch: the listing has more items"),
        "{ran:?}"
    );
}

#[test]
fn max_items_counts_across_pages_and_stops_reading_at_the_page_that_passes_it() {
    let api = tasks(10, 2);
    let ran = Runbook::play(&listing("5")).api(&api).run();
    ran.expect_code(3);
    assert_eq!(
        ran.report()["aborted"],
        format!(
            "step fetch: the listing has more items (6 by page 3) than max_items = 5; {HOW_TO_RAISE}"
        )
    );
    assert_eq!(
        api.with_method("GET").len(),
        3,
        "no page read after the cap"
    );
    assert!(api.with_method("POST").is_empty());
}

#[test]
fn exactly_max_items_items_is_not_an_abort() {
    let api = tasks(2, 2);
    let ran = Runbook::play(&listing("4")).api(&api).run();
    ran.expect_code(0);
    assert!(ran.report()["aborted"].is_null());
    assert_eq!(api.with_method("POST").len(), 4);
}

#[test]
fn max_items_can_be_raised_with_a_var() {
    let text =
        listing("\"{{ vars.max_items }}\"").replace("steps:\n", "vars: {max_items: 3}\nsteps:\n");
    let api = tasks(1, 5);
    Runbook::play(&text).api(&api).run().expect_code(3);
    let ran = Runbook::play(&text)
        .api(&api)
        .args(["--var", "max_items=5"])
        .run();
    ran.expect_code(0);
    assert_eq!(ran.total("retried"), 5);
}

#[test]
fn more_ids_than_max_items_aborts_too() {
    let api = tasks(1, 1);
    let text = playbook(
        "  - fetch:\n      ids: \"a b c d\"\n      max_items: 3\n  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n",
    );
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(3);
    assert_eq!(
        ran.report()["aborted"],
        format!("step fetch: more ids were given (4) than max_items = 3; {HOW_TO_RAISE}")
    );
    assert!(api.requests().is_empty());
}

#[test]
fn one_descendant_segment_still_finds_items_at_any_depth() {
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(|| async {
            axum::Json(
                json!({"a": {"tasks": [{"id": "x"}]}, "b": [{"c": {"tasks": [{"id": "y"}]}}]}),
            )
        }),
    ));
    let text = playbook("  - fetch:\n      request: {path: /tasks}\n      items: $..tasks[*]\n");
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 2, "{ran:?}");
}
