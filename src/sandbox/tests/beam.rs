//! The Beam emulation under `/beam` and `/beam-prod`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{client, sandbox, status_and_json};
use crate::sandbox::Sandbox;

const KEY: &str = "bm_key_sandbox_bid";
const WORKSPACE: &str = "ws-sandbox-bid";
const RETRYABLE: &str = "FAILED,ERROR,STOPPED,TIMEOUT";

fn base(sandbox: &Sandbox) -> String {
    sandbox.base_url("beam").expect("beam api")
}

async fn get(url: &str) -> (u16, Value) {
    let request = client()
        .get(url)
        .header("x-api-key", KEY)
        .header("current-workspace-id", WORKSPACE);
    status_and_json(request.send().await.expect("sent")).await
}

async fn retry(sandbox: &Sandbox, body: Value) -> (u16, String) {
    let response = client()
        .post(format!("{}/agent-tasks/retry", base(sandbox)))
        .bearer_auth(KEY)
        .header("current-workspace-id", WORKSPACE)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

fn one_day_ago() -> String {
    let day_ago = jiff::Timestamp::now().as_second() - 24 * 3600;
    jiff::Timestamp::from_second(day_ago)
        .expect("valid")
        .to_string()
}

async fn send(key: Option<&str>, workspace: Option<&str>, url: String) -> (u16, Value) {
    let mut request = client().get(url);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some(workspace) = workspace {
        request = request.header("current-workspace-id", workspace);
    }
    status_and_json(request.send().await.expect("sent")).await
}

#[tokio::test]
async fn auth_needs_the_hosts_key_and_workspace() {
    let sandbox = sandbox(7, 0.0).await;
    let url = format!("{}/agent-tasks", base(&sandbox));
    let unauthorized =
        json!({"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"});
    assert_eq!(
        send(None, Some(WORKSPACE), url.clone()).await,
        (401, unauthorized.clone())
    );
    let prod_key = ("bm_key_sandbox_prod", "ws-sandbox-prod");
    assert_eq!(
        send(Some(prod_key.0), Some(WORKSPACE), url.clone()).await,
        (401, unauthorized)
    );
    let (status, body) = send(Some(KEY), None, url.clone()).await;
    assert_eq!((status, body["statusCode"].clone()), (401, json!(401)));
    let (status, body) = send(Some(KEY), Some(prod_key.1), url.clone()).await;
    assert_eq!((status, body["error"].clone()), (403, json!("Forbidden")));
    let (status, _) = send(Some(KEY), Some(WORKSPACE), url).await;
    assert_eq!(status, 200);
    let prod_url = format!(
        "{}/agent-tasks",
        sandbox.base_url("beam-prod").expect("prod")
    );
    let (status, _) = send(Some(prod_key.0), Some(prod_key.1), prod_url).await;
    assert_eq!(status, 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn recent_retryable_tasks_span_two_pages() {
    let sandbox = sandbox(7, 0.0).await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let url = format!(
            "{}/agent-tasks?agentId=agent-sandbox-1&statuses={RETRYABLE}&startDate={}&pageNum={page}&pageSize=10",
            base(&sandbox),
            one_day_ago()
        );
        let (status, body) = get(&url).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["totalCount"], json!(14));
        let groups = body["data"].as_array().expect("groups");
        let mut on_page = 0;
        for group in groups {
            let tasks = group["tasks"].as_array().expect("tasks");
            on_page += tasks.len();
            assert!(group["groupCount"].as_u64() >= Some(tasks.len() as u64));
            for task in tasks {
                assert_eq!(
                    group["groupId"],
                    json!(task["status"].as_str().map(str::to_lowercase))
                );
                assert_eq!(task["agentId"], json!("agent-sandbox-1"));
                seen.push(task["id"].as_str().expect("id").to_owned());
            }
        }
        assert_eq!(on_page, [10, 4, 0][page - 1]);
    }
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 14);

    let (_, all) = get(&format!(
        "{}/agent-tasks?statuses={RETRYABLE}&pageSize=100",
        base(&sandbox)
    ))
    .await;
    assert_eq!(all["totalCount"], json!(25));
    let (_, lower) = get(&format!(
        "{}/agent-tasks?statuses=failed&pageSize=100",
        base(&sandbox)
    ))
    .await;
    assert_eq!(lower["totalCount"], json!(14));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn flat_shape_on_request_and_by_switch() {
    let sandbox = sandbox(7, 0.0).await;
    let (status, body) = get(&format!(
        "{}/agent-tasks?shape=flat&pageSize=20",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().map(Vec::len), Some(20));
    assert_eq!(
        body["pagination"],
        json!({"total": 44, "pageNum": 1, "pageSize": 20, "totalPages": 3})
    );

    sandbox.set_beam_flat_list(true);
    let (_, body) = get(&format!("{}/agent-tasks", base(&sandbox))).await;
    assert!(body["pagination"].is_object());
    assert!(body["data"][0]["status"].is_string());
    let (_, body) = get(&format!("{}/agent-tasks?shape=grouped", base(&sandbox))).await;
    assert!(body["totalCount"].is_number());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_list_parameters_are_nest_400s() {
    let sandbox = sandbox(7, 0.0).await;
    for query in [
        "pageNum=0",
        "pageSize=x",
        "statuses=EXPLODED",
        "startDate=yesterday",
        "grouping=colour",
        "ordering=name",
    ] {
        let (status, body) = get(&format!("{}/agent-tasks?{query}", base(&sandbox))).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"], json!("Bad Request"));
        assert!(body["message"].is_array());
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn retry_is_201_empty_and_queues_the_task() {
    let sandbox = sandbox(7, 0.0).await;
    let failed = sandbox
        .tasks("beam")
        .into_iter()
        .find(|task| task["status"] == json!("FAILED"))
        .expect("a failed task");
    let id = failed["id"].as_str().expect("id").to_owned();

    assert_eq!(
        retry(&sandbox, json!({"taskId": id})).await,
        (201, String::new())
    );
    let retried = sandbox
        .tasks("beam")
        .into_iter()
        .find(|task| task["id"] == json!(id))
        .expect("the task");
    assert_eq!(retried["status"], json!("QUEUED"));
    // The first read after a retry shows the task in progress (see `settle.rs`).
    let (status, task) = get(&format!("{}/agent-tasks/{id}", base(&sandbox))).await;
    assert_eq!(status, 200);
    assert_eq!(task["status"], json!("IN_PROGRESS"));
    assert_eq!(task["manualRetryCount"], json!(1));

    let (status, body) = retry(&sandbox, json!({"taskId": id})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = retry(
        &sandbox,
        json!({"taskId": "00000000-0000-4000-8000-000000000000"}),
    )
    .await;
    assert_eq!(status, 404);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["statusCode"], json!(404));
    assert_eq!(body["error"], json!("Not Found"));
    let (status, _) = retry(&sandbox, json!({"task": id})).await;
    assert_eq!(status, 400);

    // The prod host has its own tasks: the bid id is unknown there.
    let response = client()
        .post(format!(
            "{}/agent-tasks/retry",
            sandbox.base_url("beam-prod").expect("prod")
        ))
        .header("x-api-key", "bm_key_sandbox_prod")
        .header("current-workspace-id", "ws-sandbox-prod")
        .json(&json!({"taskId": id}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 404);
    let queued = sandbox
        .tasks("beam")
        .iter()
        .filter(|task| task["status"] == json!("QUEUED"))
        .count();
    assert_eq!(queued, 1, "the seeded one (the retried one is in progress)");
    sandbox.shutdown().await;
}
