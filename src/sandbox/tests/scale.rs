//! `runbook sandbox --tasks N`: every API serves that many tasks through its own pagination, and
//! without a count each keeps its default mix.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{APIS, client, status_and_json};
use crate::sandbox::seeding::Seeding;
use crate::sandbox::{Sandbox, SandboxConfig, TaskCounts};

/// A sandbox seeding `all` tasks in every API, and `per_api` counts over it.
async fn scaled(all: Option<usize>, per_api: &[(&str, usize)]) -> Sandbox {
    let per_api = (per_api.iter())
        .map(|(api, count)| ((*api).to_owned(), *count))
        .collect();
    Sandbox::start(SandboxConfig {
        tasks: TaskCounts { all, per_api },
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

/// A GET with `headers` through `client`: one client per test, since building one (its TLS roots)
/// costs more than a page in a debug build.
async fn get(client: &reqwest::Client, url: String, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    status_and_json(request.send().await.expect("sent")).await
}

/// Ids in `items` under `key`, checked to be new to `seen`.
fn collect(seen: &mut BTreeSet<String>, items: &[Value], key: &str) {
    for item in items {
        let id = item[key].as_str().expect("an id").to_owned();
        assert!(seen.insert(id.clone()), "{id} listed twice");
    }
}

#[test]
fn scaled_plans_add_up_to_the_count_and_keep_the_mix() {
    let seeding = |tasks| Seeding {
        tasks,
        ..Seeding::new(7, 0)
    };
    assert_eq!(seeding(None).scaled([24, 6, 6]), [24, 6, 6]);
    assert_eq!(seeding(Some(72)).scaled([24, 6, 6]), [48, 12, 12]);
    assert_eq!(
        seeding(Some(100_000)).scaled([1, 1, 1]),
        [33_334, 33_333, 33_333]
    );
    assert_eq!(seeding(Some(2)).scaled([1, 5, 1]), [0, 2, 0]);
    assert_eq!(seeding(Some(0)).scaled([3, 4]), [0, 0]);
}

#[tokio::test]
async fn every_api_holds_the_count_it_was_given() {
    let sandbox = scaled(Some(1_000), &[("skyvern", 1_234)]).await;
    for api in APIS {
        let expected = if api == "skyvern" { 1_234 } else { 1_000 };
        assert_eq!(sandbox.tasks(api).len(), expected, "{api}");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn without_a_count_every_api_keeps_its_default_mix() {
    let default = super::sandbox(7, 0.0).await;
    let counted = scaled(None, &[]).await;
    for api in APIS {
        let strip = |tasks: Vec<Value>| tasks.len();
        assert_eq!(
            strip(default.tasks(api)),
            strip(counted.tasks(api)),
            "{api}"
        );
    }
    assert_eq!(default.tasks("http").len(), 60);
    let ids = |sandbox: &Sandbox| {
        (sandbox.tasks("http").into_iter())
            .map(|task| task["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&default), ids(&counted));
    default.shutdown().await;
    counted.shutdown().await;
}

#[tokio::test]
async fn http_pages_twenty_thousand_tasks_by_cursor_and_by_page() {
    let sandbox = scaled(None, &[("http", 20_000)]).await;
    let client = client();
    let base = sandbox.base_url("http").expect("http api");
    let auth = [("authorization", "Bearer sandbox-token")];
    let mut seen = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/tasks?cursor={cursor}&limit=100");
        let (status, body) = get(&client, url, &auth).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], json!(20_000));
        collect(&mut seen, body["tasks"].as_array().expect("tasks"), "id");
        match body["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 20_000);

    let failed = (sandbox.tasks("http").iter())
        .filter(|task| task["status"] == json!("failed"))
        .count();
    assert_eq!(failed, 8_000, "24 in 60 of the tasks fail, at any scale");
    let mut listed = BTreeSet::new();
    for page in 1..=81 {
        let url = format!("{base}/tasks?status=failed&page={page}&per_page=100");
        let (_, body) = get(&client, url, &auth).await;
        assert_eq!(body["total"], json!(8_000));
        collect(&mut listed, body["tasks"].as_array().expect("tasks"), "id");
    }
    assert_eq!(listed.len(), 8_000);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn beam_pages_every_task() {
    let sandbox = scaled(None, &[("beam", 1_000)]).await;
    let client = client();
    let base = sandbox.base_url("beam").expect("beam api");
    let auth = [
        ("x-api-key", "bm_key_sandbox_bid"),
        ("current-workspace-id", "ws-sandbox-bid"),
    ];
    let mut seen = BTreeSet::new();
    for page in 1..=11 {
        let url = format!("{base}/agent-tasks?pageNum={page}&pageSize=100&shape=flat");
        let (status, body) = get(&client, url, &auth).await;
        assert_eq!(status, 200, "{body}");
        collect(&mut seen, body["data"].as_array().expect("data"), "id");
    }
    assert_eq!(seen.len(), 1_000);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn skyvern_pages_every_run() {
    let sandbox = scaled(None, &[("skyvern", 1_000)]).await;
    let client = client();
    let base = sandbox.base_url("skyvern").expect("skyvern api");
    let mut seen = BTreeSet::new();
    for page in 1..=11 {
        let url = format!("{base}/v1/agents/runs?page={page}&page_size=100");
        let (status, body) = get(&client, url, &[("x-api-key", "sk_sandbox_skyvern_key")]).await;
        assert_eq!(status, 200, "{body}");
        collect(&mut seen, body.as_array().expect("runs"), "workflow_run_id");
    }
    assert_eq!(seen.len(), 1_000);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn deepwork_projects_hold_every_task() {
    let sandbox = scaled(None, &[("deepwork", 1_000)]).await;
    let client = client();
    let base = sandbox.base_url("deepwork").expect("deepwork api");
    let auth = [("authorization", "Bearer pp_sandbox_token")];
    let mut seen = BTreeSet::new();
    for project in ["proj-alpha", "proj-beta", "proj-gamma"] {
        let url = format!("{base}/api/mission-control/projects/{project}");
        let (status, body) = get(&client, url, &auth).await;
        assert_eq!(status, 200, "{body}");
        collect(&mut seen, body["tasks"].as_array().expect("tasks"), "id");
    }
    assert_eq!(seen.len(), 1_000);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn herodotus_answers_for_every_task() {
    let sandbox = scaled(None, &[("herodotus", 1_000)]).await;
    let client = client();
    sandbox.set_herodotus_list(true);
    let base = sandbox.base_url("herodotus").expect("herodotus api");
    let (status, body) = get(
        &client,
        format!("{base}/tasks"),
        &[("x-api-key", "hd_sandbox_key")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut seen = BTreeSet::new();
    collect(
        &mut seen,
        body["tasks"].as_array().expect("tasks"),
        "taskId",
    );
    assert_eq!(seen.len(), 1_000);
    let last = seen.last().expect("a task");
    let (status, _) = get(
        &client,
        format!("{base}/tasks/{last}/status"),
        &[("x-api-key", "hd_sandbox_key")],
    )
    .await;
    assert_eq!(status, 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn geelark_pages_its_seven_day_history_by_last_id() {
    let sandbox = scaled(None, &[("geelark", 1_000)]).await;
    let client = client();
    let url = format!(
        "{}/open/v1/task/historyRecords",
        sandbox.base_url("geelark").expect("geelark api")
    );
    let mut seen = BTreeSet::new();
    let mut last_id: Option<String> = None;
    let total = loop {
        let request = (client.post(&url))
            .bearer_auth("sandbox-geelark-token")
            .header("traceId", "db6094ab-3797-4186-84d5-b0b58eebad56")
            .json(&json!({"size": 100, "lastId": last_id}));
        let (status, body) = status_and_json(request.send().await.expect("sent")).await;
        assert_eq!((status, &body["code"]), (200, &json!(0)), "{body}");
        let items = body["data"]["items"].as_array().expect("items").clone();
        if items.is_empty() {
            break body["data"]["total"].clone();
        }
        collect(&mut seen, &items, "id");
        last_id = items
            .last()
            .and_then(|item| item["id"].as_str().map(str::to_owned));
    };
    assert_eq!(total, json!(seen.len()));
    // 24 of the 30 seeded tasks are within the window, at any scale.
    assert_eq!(seen.len(), 800);
    sandbox.shutdown().await;
}
