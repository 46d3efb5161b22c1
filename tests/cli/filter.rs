//! The filter step, on items read from a file and planned with `--dry-run` (so the report lists
//! exactly the items kept): status lists, a `where` predicate, the age window on RFC 3339 and
//! epoch timestamps, `limit`, duplicates, and `--limit`.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::{Ran, Runbook, closed_port};

/// A playbook that reads `tasks.json`, applies `filter` (YAML lines under `- filter:`) and plans a
/// retry of what is left.
fn filtering(task: &str, filter: &str) -> String {
    format!(
        "name: filter\nprovider: http\nconnection:\n  base_url: \"{{{{ env('API_URL') }}}}\"\n{task}vars:\n  limit: 10\nsteps:\n  - fetch: {{file: tasks.json}}\n  - filter:\n{filter}\n  - retry:\n      request: {{path: \"/retry/{{{{ task.id }}}}\"}}\n"
    )
}

fn plan(text: &str, tasks: &Value, extra: &[&str]) -> Ran {
    let ran = Runbook::play(text)
        .file("tasks.json", &tasks.to_string())
        // Nothing listens there; a dry run sends nothing anyway.
        .env("API_URL", &format!("http://127.0.0.1:{}", closed_port()))
        .arg("--dry-run")
        .args(extra.iter().copied())
        .run();
    ran.expect_code(0);
    ran
}

fn ago(hours: i64) -> Timestamp {
    Timestamp::now() - SignedDuration::from_hours(hours)
}

fn statuses() -> Value {
    json!([
        {"id": "f1", "status": "failed", "attempts": 1, "error": "boom"},
        {"id": "t1", "status": "timed_out", "attempts": 5, "error": "slow"},
        {"id": "c1", "status": "canceled", "attempts": 1, "error": null},
        {"id": "s1", "status": "succeeded", "attempts": 2, "error": null},
        {"id": "f2", "status": "failed", "attempts": 2, "error": "bang"},
    ])
}

#[test]
fn status_in_keeps_and_status_not_in_drops() {
    let ran = plan(
        &filtering(
            "",
            "      status_in: [failed, timed_out, canceled]\n      status_not_in: [canceled]",
        ),
        &statuses(),
        &[],
    );
    assert_eq!(ran.item_ids(), ["f1", "t1", "f2"]);
    assert_eq!(ran.total("fetched"), 5);
    assert_eq!(ran.total("selected"), 3);
}

#[test]
fn where_predicate_filters_on_any_field() {
    let ran = plan(
        &filtering("", "      where: \"@.attempts < 3 && @.error != null\""),
        &statuses(),
        &[],
    );
    assert_eq!(ran.item_ids(), ["f1", "f2"]);
}

#[test]
fn age_window_reads_a_templated_time_field() {
    let tasks = json!([
        {"id": "h1", "finished": ago(1).to_string()},
        {"id": "h3", "finished": ago(3).to_string()},
        {"id": "h30", "finished": ago(30).to_string()},
        {"id": "d10", "finished": ago(240).to_string()},
        {"id": "undated"},
    ]);
    let ran = plan(
        &filtering(
            "",
            "      since: 24h\n      until: 2h\n      time: \"{{ item.finished }}\"",
        ),
        &tasks,
        &[],
    );
    assert_eq!(ran.item_ids(), ["h3"], "older than 2h and younger than 24h");
    assert!(
        ran.stderr.contains("1 items had no readable timestamp"),
        "an undated item is left out with a warning:\n{ran:?}"
    );
}

#[test]
fn age_window_reads_epoch_seconds() {
    let epoch = |hours| json!(ago(hours).as_second());
    let tasks = json!([
        {"id": "new", "created": epoch(1)},
        {"id": "day", "created": epoch(25)},
        {"id": "old", "created": epoch(24 * 4)},
    ]);
    let ran = plan(
        &filtering("task:\n  created_at: $.created\n", "      since: 2d"),
        &tasks,
        &[],
    );
    assert_eq!(ran.item_ids(), ["new", "day"]);
}

#[test]
fn limit_keeps_the_first_items_and_follows_a_var() {
    let ran = plan(&filtering("", "      limit: 2"), &statuses(), &[]);
    assert_eq!(ran.item_ids(), ["f1", "t1"]);
    let ran = plan(
        &filtering("", "      limit: \"{{ vars.limit }}\""),
        &statuses(),
        &["--var", "limit=3"],
    );
    assert_eq!(ran.item_ids(), ["f1", "t1", "c1"]);
}

/// Regression: `limit: 0` kept one item, because the limit was checked after keeping it.
#[test]
fn limit_zero_keeps_nothing() {
    let ran = plan(
        &filtering("", "      limit: \"{{ vars.limit }}\""),
        &statuses(),
        &["--var", "limit=0"],
    );
    assert!(ran.item_ids().is_empty(), "{:#}", ran.report());
    assert_eq!(ran.total("selected"), 0);
}

#[test]
fn duplicate_ids_are_kept_once() {
    let tasks = json!([
        {"id": "a", "status": "failed"},
        {"id": "b", "status": "failed"},
        {"id": "a", "status": "failed"},
        {"id": "b", "status": "timed_out"},
    ]);
    let ran = plan(
        &filtering("", "      status_in: [failed, timed_out]"),
        &tasks,
        &[],
    );
    assert_eq!(ran.item_ids(), ["a", "b"]);
    assert_eq!(ran.total("fetched"), 2);
    assert!(ran.stderr.contains("2 duplicates dropped"), "{ran:?}");
}

#[test]
fn cli_limit_caps_the_items_retried() {
    let ran = plan(
        &filtering("", "      status_not_in: [succeeded]"),
        &statuses(),
        &["--limit", "2"],
    );
    assert_eq!(ran.item_ids(), ["f1", "t1"]);
    assert_eq!(ran.total("selected"), 2);
    assert_eq!(ran.total("planned"), 2);
}
