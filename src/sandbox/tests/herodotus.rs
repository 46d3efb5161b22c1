//! The Herodotus emulation under `/herodotus`.

use serde_json::{Value, json};

use super::{client, sandbox, status_and_json};
use crate::sandbox::Sandbox;

const KEY: &str = "hd_sandbox_key";

fn base(sandbox: &Sandbox) -> String {
    sandbox.base_url("herodotus").expect("herodotus api")
}

async fn retry(sandbox: &Sandbox, id: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = client()
        .post(format!("{}/tasks/{id}/retry", base(sandbox)))
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("X-API-KEY", key);
    }
    status_and_json(request.send().await.expect("sent")).await
}

fn find(sandbox: &Sandbox, status: &str, has_results: bool) -> String {
    sandbox
        .tasks("herodotus")
        .into_iter()
        .find(|task| task["status"] == json!(status) && task["hasResults"] == json!(has_results))
        .and_then(|task| task["taskId"].as_str().map(str::to_owned))
        .expect("seeded task")
}

#[tokio::test]
async fn seeded_mix_and_ids_endpoint() {
    let sandbox = sandbox(7, 0.0).await;
    let tasks = sandbox.tasks("herodotus");
    assert_eq!(tasks.len(), 20);
    let failed = tasks.iter().filter(|task| {
        task["status"]
            .as_str()
            .is_some_and(|s| s.ends_with("Failed"))
    });
    assert_eq!(failed.clone().count(), 10);
    assert!(failed.clone().all(|task| task["errorMessage"].is_string()));
    for task in &tasks {
        assert_eq!(task["taskId"].as_str().map(str::len), Some(26));
    }
    let (status, ids) = status_and_json(
        client()
            .get(format!("http://{}/_sandbox/ids/herodotus", sandbox.addr()))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ids.as_array().map(Vec::len), Some(20));
    assert_eq!(ids[0], tasks[0]["taskId"]);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn status_and_transitions_need_no_auth() {
    let sandbox = sandbox(7, 0.0).await;
    let id = find(&sandbox, "TraceGenFailed", false);
    let (status, body) = status_and_json(
        client()
            .get(format!("{}/tasks/{id}/status", base(&sandbox)))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], json!("TraceGenFailed"));
    assert!(body["errorMessage"].is_string());
    let (status, body) = status_and_json(
        client()
            .get(format!("{}/tasks/{id}/state_transitions", base(&sandbox)))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 200);
    let rows = body["state_transitions"].as_array().expect("rows");
    assert_eq!(rows[0]["from_status"], Value::Null);
    assert_eq!(rows[0]["to_status"], json!("Received"));
    assert_eq!(
        rows.last().map(|row| row["to_status"].clone()),
        Some(json!("TraceGenFailed"))
    );

    let (status, body) = status_and_json(
        client()
            .get(format!("{}/tasks/01NOPE/status", base(&sandbox)))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "Task not found", "taskId": "01NOPE"}))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn retry_checks_key_and_resets_to_received() {
    let sandbox = sandbox(7, 0.0).await;
    let id = find(&sandbox, "AtlanticProvingFailed", false);
    assert_eq!(
        retry(&sandbox, &id, None).await,
        (
            401,
            json!({"error": "Missing Herodotus Cloud X-API-KEY header"})
        )
    );
    assert_eq!(retry(&sandbox, &id, Some("nope")).await.0, 401);

    let before = sandbox.tasks("herodotus");
    let (status, body) = retry(&sandbox, &id, Some(KEY)).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"message": "Task has been queued for retry", "status": "accepted", "uuid": id})
        )
    );
    let after = sandbox.tasks("herodotus");
    let task = after
        .iter()
        .find(|task| task["taskId"] == json!(id))
        .expect("task");
    let old = before
        .iter()
        .find(|task| task["taskId"] == json!(id))
        .expect("task");
    assert_eq!(task["status"], json!("Received"));
    assert_eq!(task["errorMessage"], Value::Null);
    assert_eq!(
        task["transitionCount"].as_u64(),
        old["transitionCount"].as_u64().map(|n| n + 1)
    );

    let (status, body) = retry(&sandbox, &id, Some(KEY)).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = retry(&sandbox, "01UNKNOWN", Some(KEY)).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "Task not found", "uuid": "01UNKNOWN"}))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn decommitment_without_results_cannot_be_retried() {
    let sandbox = sandbox(7, 0.0).await;
    let stuck = find(&sandbox, "TaskDecommitmentFailed", false);
    let (status, body) = retry(&sandbox, &stuck, Some(KEY)).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({
                "error": "Cannot retry decommitment",
                "details": "Task results are missing. Cannot retry decommitment without results.",
            })
        )
    );
    let with_results = find(&sandbox, "TaskDecommitmentFailed", true);
    assert_eq!(retry(&sandbox, &with_results, Some(KEY)).await.0, 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn list_only_when_switched_on() {
    let sandbox = sandbox(7, 0.0).await;
    let url = format!("{}/tasks?status=DryRunFailed", base(&sandbox));
    assert_eq!(
        status_and_json(client().get(&url).send().await.expect("sent"))
            .await
            .0,
        404
    );
    sandbox.set_herodotus_list(true);
    let (status, body) = status_and_json(client().get(&url).send().await.expect("sent")).await;
    assert_eq!(status, 200);
    assert_eq!(body["tasks"].as_array().map(Vec::len), Some(2));
    sandbox.shutdown().await;
}
