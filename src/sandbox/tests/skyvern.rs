//! The Skyvern emulation under `/skyvern`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{client, sandbox, status_and_json};
use crate::sandbox::Sandbox;

const KEY: &str = "sk_sandbox_skyvern_key";

fn base(sandbox: &Sandbox) -> String {
    sandbox.base_url("skyvern").expect("skyvern api")
}

async fn get(url: &str) -> (u16, Value) {
    status_and_json(
        client()
            .get(url)
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("sent"),
    )
    .await
}

async fn retry(sandbox: &Sandbox, id: &str) -> (u16, Value) {
    let url = format!("{}/v1/agents/runs/{id}/retry", base(sandbox));
    status_and_json(
        client()
            .post(url)
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("sent"),
    )
    .await
}

fn first_with_status(sandbox: &Sandbox, status: &str) -> Value {
    sandbox
        .tasks("skyvern")
        .into_iter()
        .find(|run| run["status"] == json!(status))
        .expect("seeded run")
}

#[tokio::test]
async fn needs_a_key() {
    let sandbox = sandbox(7, 0.0).await;
    let url = format!("{}/v1/agents/runs", base(&sandbox));
    let (status, body) = status_and_json(client().get(&url).send().await.expect("sent")).await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": "Invalid credentials"}))
    );
    let (status, body) = status_and_json(
        client()
            .get(&url)
            .header("x-api-key", "nope")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": "Could not validate credentials"}))
    );
    // The real server wants x-api-key; a Bearer header, even with the right key, is refused.
    let (status, body) = status_and_json(
        client()
            .get(&url)
            .bearer_auth(KEY)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": "Invalid authentication method"}))
    );
    let (status, body) = get(&url).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(10));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn refused_runs_get_the_real_servers_400s() {
    let sandbox = sandbox(7, 0.0).await;
    let failed: Vec<String> = sandbox
        .tasks("skyvern")
        .into_iter()
        .filter(|run| run["status"] == json!("failed"))
        .filter_map(|run| run["workflow_run_id"].as_str().map(str::to_owned))
        .take(2)
        .collect();
    sandbox.set_skyvern_refusal(&failed[0], crate::sandbox::SkyvernRefusal::BlockScoped);
    sandbox.set_skyvern_refusal(
        &failed[1],
        crate::sandbox::SkyvernRefusal::MissingBrowserAddress,
    );
    assert_eq!(
        retry(&sandbox, &failed[0]).await,
        (
            400,
            json!({"detail": "Block-scoped workflow runs cannot be retried with this endpoint"})
        )
    );
    assert_eq!(
        retry(&sandbox, &failed[1]).await,
        (
            400,
            json!({"detail": "Browser session pbs_sandbox_gone does not have an address."})
        )
    );
    assert_eq!(sandbox.tasks("skyvern").len(), 40, "no new run");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn pages_through_failed_runs_newest_first() {
    let sandbox = sandbox(7, 0.0).await;
    for list in ["agents", "workflows"] {
        let mut seen: Vec<Value> = Vec::new();
        for page in 1.. {
            let url = format!(
                "{}/v1/{list}/runs?status=failed&status=timed_out&page={page}&page_size=4",
                base(&sandbox)
            );
            let (status, body) = get(&url).await;
            assert_eq!(status, 200, "{body}");
            let runs = body.as_array().expect("bare array").clone();
            if runs.is_empty() {
                break;
            }
            seen.extend(runs);
        }
        assert_eq!(seen.len(), 14, "{list}");
        let ids: BTreeSet<&str> = seen
            .iter()
            .filter_map(|run| run["workflow_run_id"].as_str())
            .collect();
        assert_eq!(ids.len(), 14);
        assert!(ids.iter().all(|id| id.starts_with("wr_")));
        let created: Vec<&str> = seen
            .iter()
            .filter_map(|run| run["created_at"].as_str())
            .collect();
        assert!(
            created.windows(2).all(|pair| pair[0] >= pair[1]),
            "created_at desc"
        );
    }
    for query in [
        "status=failed,timed_out",
        "status=broken",
        "page=0",
        "page_size=x",
    ] {
        let (status, body) = get(&format!("{}/v1/agents/runs?{query}", base(&sandbox))).await;
        assert_eq!(status, 422, "{query}");
        assert!(body["detail"].is_array());
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn per_workflow_list_honours_the_date_window() {
    let sandbox = sandbox(7, 0.0).await;
    let wpid = "wpid_sandbox_orders";
    let all = sandbox.tasks("skyvern");
    let of_workflow: Vec<&Value> = all
        .iter()
        .filter(|run| run["workflow_permanent_id"] == json!(wpid))
        .collect();
    let start = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 7 * 24 * 3600)
        .expect("valid")
        .to_string();
    let recent = of_workflow
        .iter()
        .filter(|run| {
            run["created_at"]
                .as_str()
                .is_some_and(|at| at >= start.as_str())
        })
        .count();
    let (status, body) = get(&format!(
        "{}/v1/agents/{wpid}/runs?created_at_start={start}&page_size=100",
        base(&sandbox)
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(recent));
    assert!(
        recent < of_workflow.len(),
        "some runs of {wpid} are older than 7 days"
    );
    let (status, _) = get(&format!("{}/v1/agents/wpid_nope/runs", base(&sandbox))).await;
    assert_eq!(status, 404);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn retry_creates_a_new_run_with_status_created() {
    let sandbox = sandbox(7, 0.0).await;
    let failed = first_with_status(&sandbox, "failed");
    let old_id = failed["workflow_run_id"].as_str().expect("id").to_owned();

    let (status, run) = get(&format!("{}/v1/runs/{old_id}", base(&sandbox))).await;
    assert_eq!(status, 200);
    assert_eq!(run["run_type"], json!("workflow_run"));
    assert_eq!(run["status"], json!("failed"));

    let (status, new_run) = retry(&sandbox, &old_id).await;
    assert_eq!(status, 200, "{new_run}");
    let new_id = new_run["run_id"].as_str().expect("run id").to_owned();
    assert!(new_id.starts_with("wr_") && new_id != old_id);
    assert_eq!(new_run["status"], json!("created"));
    assert_eq!(new_run["output"], Value::Null);
    assert_eq!(
        new_run["run_request"]["parameters"],
        run["run_request"]["parameters"]
    );

    let runs = sandbox.tasks("skyvern");
    assert_eq!(runs.len(), 41);
    assert_eq!(runs[0]["workflow_run_id"], json!(new_id));
    assert_eq!(runs[0]["sandbox_retry_of"], json!(old_id));
    let old = runs
        .iter()
        .find(|run| run["workflow_run_id"] == json!(old_id))
        .expect("old run");
    assert_eq!(
        old["status"],
        json!("failed"),
        "the old run keeps its status"
    );

    let completed = first_with_status(&sandbox, "completed");
    let (status, _) = retry(&sandbox, completed["workflow_run_id"].as_str().expect("id")).await;
    assert_eq!(status, 200, "Skyvern retries any final run");
    let running = first_with_status(&sandbox, "running");
    let (status, body) = retry(&sandbox, running["workflow_run_id"].as_str().expect("id")).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"detail": "Only terminal workflow runs can be retried"})
        )
    );
    let (status, body) = retry(&sandbox, "wr_1").await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Workflow run not found wr_1"}))
    );
    let (status, body) = get(&format!("{}/v1/runs/wr_1", base(&sandbox))).await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Task run not found wr_1"}))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn new_run_ids_repeat_for_a_seed() {
    let a = sandbox(5, 0.0).await;
    let b = sandbox(5, 0.0).await;
    let id = first_with_status(&a, "timed_out")["workflow_run_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, run_a) = retry(&a, &id).await;
    let (_, run_b) = retry(&b, &id).await;
    assert_eq!(run_a["run_id"], run_b["run_id"]);
    a.shutdown().await;
    b.shutdown().await;
}

/// The keys of a JSON object, in the order the answer gave them.
fn keys(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .map(|keys| keys.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn both_shapes_of_a_run_keep_the_real_servers_key_order() {
    let sandbox = sandbox(7, 0.0).await;
    let (status, list) = get(&format!("{}/v1/agents/runs", base(&sandbox))).await;
    assert_eq!(status, 200, "{list}");
    let item = list.get(0).expect("a listed run");
    let timeline = [
        "created_at",
        "modified_at",
        "queued_at",
        "started_at",
        "finished_at",
        "failure_reason",
    ];
    let mut expected = vec![
        "workflow_run_id",
        "workflow_id",
        "workflow_permanent_id",
        "organization_id",
        "status",
    ];
    expected.extend(timeline);
    expected.extend([
        "failure_category",
        "workflow_title",
        "parent_workflow_run_id",
        "trigger_type",
        "browser_session_id",
        "proxy_location",
        "webhook_callback_url",
    ]);
    assert_eq!(keys(item), expected);
    let id = item["workflow_run_id"].as_str().expect("run id");
    let (status, run) = get(&format!("{}/v1/runs/{id}", base(&sandbox))).await;
    assert_eq!(status, 200, "{run}");
    let mut expected = vec!["run_id", "status", "run_type"];
    expected.extend(timeline);
    expected.extend([
        "errors",
        "output",
        "downloaded_files",
        "recording_url",
        "screenshot_urls",
        "app_url",
        "browser_session_id",
        "browser_profile_id",
        "step_count",
        "run_with",
        "ai_fallback",
        "script_run",
        "run_request",
    ]);
    assert_eq!(keys(&run), expected);
    sandbox.shutdown().await;
}
