//! Issue 11, point 9, at the renderers: the Markdown report lists every item (the retried ones
//! with their notes, folded when many), an aborted run's headline says where it stopped, a sandbox
//! run says so, and a dry run's batch request is one row with its items.

use super::*;
use crate::secrets::Redactor;

fn item(id: &str, outcome: ItemOutcome, message: Option<&str>) -> ItemReport {
    ItemReport {
        id: id.into(),
        label: None,
        status: Some("failed".into()),
        outcome,
        http_status: Some(200),
        attempts: 1,
        message: message.map(Into::into),
        step: "retry".into(),
        request: None,
        new_id: None,
        chain: Vec::new(),
    }
}

fn report(items: Vec<ItemReport>) -> RunReport {
    let selected = items.len() as u64;
    RunReport {
        playbook: "nightly".into(),
        provider: "http".into(),
        run_id: "R-1".into(),
        dry_run: false,
        sandbox: false,
        started_at: "2026-12-03T10:00:00Z".into(),
        finished_at: "2026-12-03T10:00:05Z".into(),
        totals: Totals::of(&items, selected, selected),
        items,
        aborted: None,
        resumed_from: None,
        errors: Vec::new(),
        pace: Vec::new(),
    }
}

#[test]
fn markdown_lists_retried_items_with_their_notes() {
    let md = markdown::render(
        &report(vec![
            item(
                "a",
                ItemOutcome::Retried,
                Some("only the decommitment re-runs"),
            ),
            item("b", ItemOutcome::Failed, Some("HTTP 404: not found")),
        ]),
        None,
    );
    assert!(
        md.contains(
            "### Retried (1)\n\n| id | label | status | HTTP | attempts | note |\n|---|---|---|---:|---:|---|\n| `a` |  | failed | 200 | 1 | only the decommitment re-runs |\n"
        ),
        "{md}"
    );
    // Those that need attention come first.
    let failed = md.find("### Failed (1)").expect("a failed section");
    assert!(failed < md.find("### Retried").unwrap_or(0), "{md}");
}

#[test]
fn markdown_folds_many_retried_items_and_still_lists_each() {
    let items: Vec<ItemReport> = (0..21)
        .map(|n| item(&format!("t{n}"), ItemOutcome::Retried, None))
        .collect();
    let md = markdown::render(&report(items), None);
    assert!(
        md.contains("<details><summary>Retried (21)</summary>\n\n| id |"),
        "{md}"
    );
    assert!(md.trim_end().ends_with("</details>"), "{md}");
    for n in 0..21 {
        assert!(md.contains(&format!("| `t{n}` |")), "t{n} is listed:\n{md}");
    }
    // Twenty are not many: a plain section.
    let items: Vec<ItemReport> = (0..20)
        .map(|n| item(&format!("t{n}"), ItemOutcome::Retried, None))
        .collect();
    let md = markdown::render(&report(items), None);
    assert!(
        md.contains("### Retried (20)") && !md.contains("<details>"),
        "{md}"
    );
}

#[test]
fn an_aborted_run_says_so_and_where_not_retried_0_of_0() {
    let mut r = report(Vec::new());
    r.aborted = Some("step failed: authentication refused: HTTP 401".into());
    assert_eq!(r.headline(), "aborted at step failed");
    r.aborted = Some("the ledger .runbook/ledger.db cannot be used: locked".into());
    assert_eq!(r.headline(), "aborted before its first step");
    let mut r = report(vec![
        item("a", ItemOutcome::Retried, None),
        item(
            "b",
            ItemOutcome::Failed,
            Some("not sent: the run was stopped"),
        ),
    ]);
    r.aborted = Some("step retry: interrupted".into());
    assert_eq!(
        r.headline(),
        "aborted at step retry, after retrying 1 of 2 selected"
    );
    let md = markdown::render(&r, None);
    assert!(
        md.starts_with("## nightly\n\n**aborted at step retry, after retrying 1 of 2 selected**\n"),
        "{md}"
    );
}

#[test]
fn a_sandbox_run_says_so_in_every_format() {
    let mut r = report(Vec::new());
    r.sandbox = true;
    r.dry_run = true;
    let table = table::render(&r, &Redactor::default());
    assert!(
        table.starts_with("nightly (sandbox, dry run): run R-1: "),
        "{table}"
    );
    let md = markdown::render(&r, None);
    assert!(md.contains("Run `R-1` (sandbox, dry run), "), "{md}");
    let json: serde_json::Value = serde_json::from_str(&json::render(&r)).expect("the JSON report");
    assert_eq!(json["sandbox"], true);
    // A report stored before the field was recorded reads as not a sandbox run.
    let mut old = json.clone();
    old.as_object_mut().map(|o| o.remove("sandbox"));
    let back: RunReport = serde_json::from_value(old).expect("an older report");
    assert!(!back.sandbox);
}

#[test]
fn a_batch_request_is_planned_once_with_its_items() {
    let request = PlannedRequest {
        method: "POST".into(),
        url: "http://api/task/restart".into(),
        body: Some(serde_json::json!({"ids": ["a", "b", "c"]})),
    };
    let mut items: Vec<ItemReport> = ["a", "b", "c"]
        .into_iter()
        .map(|id| ItemReport {
            request: Some(Box::new(request.clone())),
            label: Some(format!("phone-{id}")),
            ..item(id, ItemOutcome::Planned, None)
        })
        .collect();
    // A per-item request after the batch stays its own row.
    items.push(ItemReport {
        request: Some(Box::new(PlannedRequest {
            url: "http://api/tasks/d/retry".into(),
            body: None,
            ..request.clone()
        })),
        ..item("d", ItemOutcome::Planned, None)
    });
    let mut r = report(items);
    r.dry_run = true;
    let md = markdown::render(&r, None);
    assert!(
        md.contains(
            "### Planned (4 items in 2 requests)\n\n| request | items |\n|---|---|\n| `POST http://api/task/restart` | `a` phone-a, `b` phone-b, `c` phone-c |\n| `POST http://api/tasks/d/retry` | `d` |\n"
        ),
        "{md}"
    );
    let table = table::render(&r, &Redactor::default());
    assert!(
        table.contains(
            "  planned (4 items in 2 requests):\n    POST http://api/task/restart {\"ids\":[\"a\",\"b\",\"c\"]}\n      for 3 items: a (phone-a), b (phone-b), c (phone-c)\n    d  POST http://api/tasks/d/retry\n"
        ),
        "{table}"
    );
}

#[test]
fn per_item_requests_keep_a_row_per_item() {
    let items: Vec<ItemReport> = ["a", "b"]
        .into_iter()
        .map(|id| ItemReport {
            request: Some(Box::new(PlannedRequest {
                method: "POST".into(),
                url: format!("http://api/tasks/{id}/retry"),
                body: None,
            })),
            ..item(id, ItemOutcome::Planned, None)
        })
        .collect();
    let mut r = report(items);
    r.dry_run = true;
    let md = markdown::render(&r, None);
    assert!(
        md.contains(
            "### Planned (2)\n\n| id | label | request |\n|---|---|---|\n| `a` |  | `POST http://api/tasks/a/retry` |\n| `b` |  | `POST http://api/tasks/b/retry` |\n"
        ),
        "{md}"
    );
}
