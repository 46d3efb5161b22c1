//! Fetching without a list endpoint: ids from a JSON file (strings, or objects with `task_id`),
//! ids given on the command line through `--var`, and `enrich`, one GET per item that fills in
//! what the list lacks.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

fn retried_api() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { axum::Json(json!({"status": "queued"})) }),
    ))
}

fn retried_paths(api: &FakeApi) -> Vec<String> {
    let mut paths: Vec<String> = api
        .with_method("POST")
        .into_iter()
        .map(|r| r.path)
        .collect();
    paths.sort();
    paths
}

const RETRY: &str = "  - retry:\n      request: {path: \"/tasks/{{ task.id }}/retry\"}\n";

#[test]
fn ids_from_a_file_of_strings() {
    let api = retried_api();
    let text = playbook(&format!("  - fetch: {{file: ids.json}}\n{RETRY}"));
    let ran = Runbook::play(&text)
        .api(&api)
        .file("ids.json", r#"["a1", "a2", 3]"#)
        .run();
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 3);
    assert_eq!(
        retried_paths(&api),
        ["/tasks/3/retry", "/tasks/a1/retry", "/tasks/a2/retry"]
    );
}

#[test]
fn ids_from_a_file_of_objects_with_task_id() {
    let api = retried_api();
    let text = playbook(&format!(
        "  - fetch: {{file: \"{{{{ vars.export }}}}\"}}\n  - filter: {{status_in: [failed]}}\n{RETRY}"
    ))
    .replace("steps:", "vars: {export: exports/failed.json}\nsteps:");
    let ran = Runbook::play(&text)
        .api(&api)
        .file(
            "exports/failed.json",
            r#"[{"task_id": "x1", "status": "failed"}, {"task_id": "x2", "status": "succeeded"}, {"task_id": "x3", "status": "failed"}]"#,
        )
        .run();
    ran.expect_code(0);
    assert_eq!(ran.total("fetched"), 3);
    assert_eq!(retried_paths(&api), ["/tasks/x1/retry", "/tasks/x3/retry"]);
    assert_eq!(ran.item("x1")["status"], "failed");
}

#[test]
fn ids_given_with_var() {
    let api = retried_api();
    let text = playbook(&format!(
        "  - fetch: {{ids: \"{{{{ vars.ids }}}}\"}}\n{RETRY}"
    ))
    .replace("steps:", "vars: {ids: \"\"}\nsteps:");
    let ran = Runbook::play(&text)
        .api(&api)
        .args(["--var", "ids=k1, k2 k3"])
        .run();
    ran.expect_code(0);
    assert_eq!(
        retried_paths(&api),
        ["/tasks/k1/retry", "/tasks/k2/retry", "/tasks/k3/retry"]
    );
}

#[test]
fn enrich_reads_each_item_and_fills_in_its_status() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks/{id}",
                get(|Path(id): Path<String>| async move {
                    let status = match id.as_str() {
                        "e1" | "e3" => "failed",
                        "gone" => {
                            return (
                                StatusCode::NOT_FOUND,
                                axum::Json(json!({"message": "no task gone"})),
                            )
                                .into_response();
                        }
                        _ => "succeeded",
                    };
                    axum::Json(
                        json!({"data": {"id": id, "status": status, "name": format!("job {id}")}}),
                    )
                    .into_response()
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { axum::Json(json!({"status": "queued"})) }),
            ),
    );
    let text = playbook(&format!(
        "  - fetch:\n      ids: e1 e2 e3 gone\n      enrich:\n        request: {{path: \"/tasks/{{{{ task.id }}}}\"}}\n        item: $.data\n        concurrency: 2\n  - filter: {{status_in: [failed]}}\n{RETRY}"
    ))
    .replace("steps:", "task: {label: $.name}\nsteps:");
    let ran = Runbook::play(&text).api(&api).run();
    ran.expect_code(1);
    let mut reads: Vec<String> = api.with_method("GET").into_iter().map(|r| r.path).collect();
    reads.sort();
    assert_eq!(
        reads,
        ["/tasks/e1", "/tasks/e2", "/tasks/e3", "/tasks/gone"],
        "each item read once"
    );
    assert_eq!(retried_paths(&api), ["/tasks/e1/retry", "/tasks/e3/retry"]);
    let e1 = ran.item("e1");
    assert_eq!(e1["status"], "failed");
    assert_eq!(e1["label"], "job e1", "the enriched fields are read");
    let gone = ran.item("gone");
    assert_eq!(gone["outcome"], "failed");
    let message = gone["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("could not read the item") && message.contains("404"),
        "{message}"
    );
}
