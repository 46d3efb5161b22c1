//! Issue 13, point 3: ids from `fetch: ids:` and `file:` are ids, whatever the adapter's `task.id`
//! path says. Before, items built from bare ids were read through the adapter's field (Skyvern's
//! `$.workflow_run_id`), had no id, were dropped with a warning, and the run selected nothing and
//! exited 0. One test per adapter: a dry run plans one retry per given id, addressed to that id.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::{Value, json};

use crate::{FakeApi, Ran, Runbook};

/// A playbook for `provider` taking the ids `t-1` and `t-2` from `ids:` (or `fetch` as given),
/// with `more` steps after the fetch.
fn playbook(provider: &str, fetch: &str, more: &str) -> String {
    format!(
        "name: ids\nprovider: {provider}\nconnection:\n  backoff: {{initial: 10ms, max: 50ms, attempts: 2}}\nsteps:\n  - fetch: {fetch}\n{more}"
    )
}

const IDS: &str = "{ids: \"t-1, t-2\"}";

/// Runs `text` as a dry run against `api` through `base_url_var`, with `credentials` set.
fn dry_run(text: &str, api: &FakeApi, base_url_var: &str, credentials: &[&str]) -> Ran {
    let mut runbook = Runbook::play(text)
        .arg("--dry-run")
        .env(base_url_var, &api.url());
    for name in credentials {
        runbook = runbook.env(name, "test-credential");
    }
    runbook.run()
}

/// Both ids were selected and planned, each with a request that names it (in the URL or body).
fn assert_planned_by_id(ran: &Ran) {
    ran.expect_code(0);
    assert!(!ran.stderr.contains("has no id"), "{ran:?}");
    assert_eq!(ran.total("fetched"), 2, "{ran:?}");
    assert_eq!(ran.total("selected"), 2, "{ran:?}");
    assert_eq!(ran.total("planned"), 2, "{ran:?}");
    for id in ["t-1", "t-2"] {
        let item = ran.item(id);
        assert_eq!(item["outcome"], "planned", "{item:#}");
        let request = &item["request"];
        let names_it = request["url"].as_str().is_some_and(|u| u.contains(id))
            || request["body"].to_string().contains(id);
        assert!(names_it, "the planned request addresses {id}: {request:#}");
    }
}

fn no_api() -> FakeApi {
    FakeApi::start(Router::new())
}

#[test]
fn beam_ids_are_ids() {
    let api = no_api();
    let text = playbook("beam", IDS, "  - retry: {}\n");
    let ran = dry_run(
        &text,
        &api,
        "BEAM_BASE_URL",
        &["BEAM_API_KEY", "BEAM_WORKSPACE_ID"],
    );
    assert_planned_by_id(&ran);
}

/// Deep Work's retry path needs the task's project: the ids are read again (`enrich: {}`), and
/// the answer's `id` field is not needed to know which task it is.
#[test]
fn deepwork_ids_are_ids() {
    let api = FakeApi::start(Router::new().route(
        "/api/mission-control/tasks/{id}",
        get(|Path(id): Path<String>| async move {
            axum::Json(json!({"task": {"project_id": "p-1", "status": "blocked", "title": id}, "messages": []}))
        }),
    ));
    let fetch = "{ids: \"t-1, t-2\", enrich: {}}";
    let text = playbook("deepwork", fetch, "  - retry: {}\n");
    let ran = dry_run(&text, &api, "DEEPWORK_BASE_URL", &["DEEPWORK_TOKEN"]);
    assert_planned_by_id(&ran);
    let url = ran.item("t-1")["request"]["url"].clone();
    assert!(
        url.as_str()
            .is_some_and(|u| u.ends_with("/api/deep-work/projects/p-1/tasks/t-1/retry")),
        "{url}"
    );
}

#[test]
fn herodotus_ids_are_ids() {
    let api = no_api();
    let text = playbook("herodotus", IDS, "  - retry: {}\n");
    let ran = dry_run(&text, &api, "HERODOTUS_BASE_URL", &["HERODOTUS_API_KEY"]);
    assert_planned_by_id(&ran);
}

#[test]
fn geelark_ids_are_ids() {
    let api = no_api();
    let text = playbook("geelark", IDS, "  - retry: {}\n");
    let ran = dry_run(&text, &api, "GEELARK_BASE_URL", &["GEELARK_TOKEN"]);
    assert_planned_by_id(&ran);
}

/// Skyvern's list reads `$.workflow_run_id`; its get-one answer has `run_id`. Ids given by the
/// playbook are the runs' ids all the same: each is read for its status, then retried.
fn skyvern_api() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/v1/runs/{id}",
        get(|Path(id): Path<String>| async move {
            axum::Json(json!({"run_id": id, "status": "failed", "run_type": "workflow_run"}))
        }),
    ))
}

#[test]
fn skyvern_ids_are_ids() {
    let api = skyvern_api();
    let fetch = "{ids: \"t-1, t-2\", enrich: {}}";
    let text = playbook("skyvern", fetch, "  - retry: {}\n");
    let ran = dry_run(&text, &api, "SKYVERN_BASE_URL", &["SKYVERN_API_KEY"]);
    assert_planned_by_id(&ran);
}

#[test]
fn skyvern_ids_from_a_file_are_ids() {
    let api = skyvern_api();
    let fetch = "{file: runs.json, enrich: {}}";
    let text = playbook("skyvern", fetch, "  - retry: {}\n");
    let ran = Runbook::play(&text)
        .arg("--dry-run")
        .env("SKYVERN_BASE_URL", &api.url())
        .env("SKYVERN_API_KEY", "test-credential")
        .file("runs.json", r#"["t-1", {"id": "t-2"}]"#)
        .run();
    assert_planned_by_id(&ran);
}

/// The generic adapter with a playbook whose `task.id` is `$.uuid`: given ids still are ids.
#[test]
fn http_ids_are_ids() {
    let api = no_api();
    let text = format!(
        "name: ids\nprovider: http\nconnection:\n  base_url: \"{{{{ env('API_URL') }}}}\"\ntask:\n  id: $.uuid\nsteps:\n  - fetch: {IDS}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n"
    );
    let ran = Runbook::play(&text).arg("--dry-run").api(&api).run();
    assert_planned_by_id(&ran);
    let planned: Vec<Value> = ["t-1", "t-2"]
        .iter()
        .map(|id| ran.item(id)["request"]["url"].clone())
        .collect();
    assert!(
        planned[0]
            .as_str()
            .is_some_and(|u| u.ends_with("/tasks/t-1/retry")),
        "{planned:?}"
    );
}
