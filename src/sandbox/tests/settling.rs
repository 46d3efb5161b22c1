//! Retried work settles: in progress for `settle_reads` reads of the item, then a final status fixed
//! by the seed and the item id, the same on every later read and on every later retry.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{client, status_and_json};
use crate::sandbox::{Sandbox, SandboxConfig};

/// A sandbox whose Deep Work limiter is off: these tests read as fast as they can.
async fn sandbox_settling(seed: u64, settle_reads: u32) -> Sandbox {
    let sandbox = Sandbox::start(SandboxConfig {
        seed,
        settle_reads,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    sandbox.set_deepwork_rate_limit(None);
    sandbox
}

/// One emulated API, as far as retrying an item and reading it back goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Http,
    Beam,
    Deepwork,
    Herodotus,
    Geelark,
    Skyvern,
}

impl Target {
    const ALL: [Target; 6] = [
        Target::Http,
        Target::Beam,
        Target::Deepwork,
        Target::Herodotus,
        Target::Geelark,
        Target::Skyvern,
    ];

    fn name(self) -> &'static str {
        match self {
            Target::Http => "http",
            Target::Beam => "beam",
            Target::Deepwork => "deepwork",
            Target::Herodotus => "herodotus",
            Target::Geelark => "geelark",
            Target::Skyvern => "skyvern",
        }
    }

    fn id_key(self) -> &'static str {
        match self {
            Target::Herodotus => "taskId",
            Target::Skyvern => "workflow_run_id",
            _ => "id",
        }
    }

    /// The status a retry leaves the item in, before any read.
    fn queued(self) -> Value {
        match self {
            Target::Http => json!("queued"),
            Target::Skyvern => json!("created"),
            Target::Beam => json!("QUEUED"),
            Target::Deepwork => json!("assigned"),
            Target::Herodotus => json!("Received"),
            Target::Geelark => json!(1),
        }
    }

    fn is_in_progress(self, status: &Value) -> bool {
        match self {
            Target::Http | Target::Skyvern => status == "running",
            Target::Beam => status == "IN_PROGRESS",
            Target::Deepwork => status == "in_progress",
            Target::Herodotus => status.as_str().is_some_and(|s| s.ends_with("Started")),
            Target::Geelark => status == 2,
        }
    }

    fn is_failure(self, status: &Value) -> bool {
        match self {
            Target::Http | Target::Skyvern => status == "failed",
            Target::Beam => status == "FAILED",
            Target::Deepwork => status == "blocked",
            Target::Herodotus => status.as_str().is_some_and(|s| s.ends_with("Failed")),
            Target::Geelark => status == 4,
        }
    }

    fn url(self, sandbox: &Sandbox, path: &str) -> String {
        format!("{}{path}", sandbox.base_url(self.name()).expect("api"))
    }

    fn authorized(self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Target::Http => request.bearer_auth("sandbox-token"),
            Target::Beam => request
                .header("x-api-key", "bm_key_sandbox_bid")
                .header("current-workspace-id", "ws-sandbox-bid"),
            Target::Deepwork => request.bearer_auth("pp_sandbox_token"),
            Target::Herodotus => request.header("x-api-key", "hd_sandbox_key"),
            Target::Geelark => request
                .header("traceId", "db6094ab-3797-4186-84d5-b0b58eebad56")
                .bearer_auth("sandbox-geelark-token"),
            Target::Skyvern => request.header("x-api-key", "sk_sandbox_skyvern_key"),
        }
    }

    /// Retries one item (a snapshot entry); returns the id to read afterwards: the item's own,
    /// or for Skyvern the new run's.
    async fn retry(self, http: &reqwest::Client, sandbox: &Sandbox, item: &Value) -> String {
        let id = item[self.id_key()].as_str().expect("id").to_owned();
        let request = match self {
            Target::Http => http.post(self.url(sandbox, &format!("/tasks/{id}/retry"))),
            Target::Beam => http
                .post(self.url(sandbox, "/agent-tasks/retry"))
                .json(&json!({"taskId": id})),
            Target::Deepwork => {
                let project = item["project_id"].as_str().expect("project");
                http.post(self.url(
                    sandbox,
                    &format!("/api/deep-work/projects/{project}/tasks/{id}/retry"),
                ))
            }
            Target::Herodotus => http.post(self.url(sandbox, &format!("/tasks/{id}/retry"))),
            Target::Geelark => http
                .post(self.url(sandbox, "/open/v1/task/restart"))
                .json(&json!({"ids": [id]})),
            Target::Skyvern => http.post(self.url(sandbox, &format!("/v1/agents/runs/{id}/retry"))),
        };
        let (status, body) =
            status_and_json(self.authorized(request).send().await.expect("sent")).await;
        assert!(
            (200..300).contains(&status),
            "{self:?} {id}: {status} {body}"
        );
        match self {
            Target::Geelark => assert_eq!(body["code"], json!(0), "{id}: {body}"),
            Target::Skyvern => return body["run_id"].as_str().expect("new run").to_owned(),
            _ => {}
        }
        id
    }

    /// Reads one item through its get-one endpoint; returns the status it shows.
    async fn read(self, http: &reqwest::Client, sandbox: &Sandbox, id: &str) -> Value {
        let request = match self {
            Target::Http => http.get(self.url(sandbox, &format!("/tasks/{id}"))),
            Target::Beam => http.get(self.url(sandbox, &format!("/agent-tasks/{id}"))),
            Target::Deepwork => {
                http.get(self.url(sandbox, &format!("/api/mission-control/tasks/{id}")))
            }
            Target::Herodotus => http.get(self.url(sandbox, &format!("/tasks/{id}/status"))),
            Target::Geelark => http
                .post(self.url(sandbox, "/open/v1/task/query"))
                .json(&json!({"ids": [id]})),
            Target::Skyvern => http.get(self.url(sandbox, &format!("/v1/runs/{id}"))),
        };
        let (status, body) =
            status_and_json(self.authorized(request).send().await.expect("sent")).await;
        assert_eq!(status, 200, "{self:?} {id}: {body}");
        match self {
            Target::Deepwork => body["task"]["status"].clone(),
            Target::Geelark => body["data"]["items"][0]["status"].clone(),
            _ => body["status"].clone(),
        }
    }
}

fn snapshot_of(sandbox: &Sandbox, target: Target, id: &str) -> Value {
    sandbox
        .tasks(target.name())
        .into_iter()
        .find(|item| item[target.id_key()] == json!(id))
        .expect("item in snapshot")
}

/// Retries every retryable item of `target`, reads each through until it settles, checks each
/// step, and returns (retried id, final status) for all of them.
async fn retry_and_settle(target: Target, seed: u64, settle_reads: u32) -> Vec<(String, Value)> {
    let sandbox = sandbox_settling(seed, settle_reads).await;
    let http = client();
    let retryable: Vec<Value> = sandbox
        .tasks(target.name())
        .into_iter()
        .filter(|item| !item["sandbox_settles_to"].is_null())
        .collect();
    assert!(retryable.len() >= 4, "{target:?}: {}", retryable.len());
    let mut outcomes = Vec::new();
    let mut read_ids = BTreeMap::new();
    for item in &retryable {
        let id = item[target.id_key()].as_str().expect("id").to_owned();
        let expected = item["sandbox_settles_to"].clone();
        let read_id = target.retry(&http, &sandbox, item).await;
        let moving = snapshot_of(&sandbox, target, &read_id);
        assert_eq!(moving["status"], target.queued(), "{target:?} {id}");
        assert_eq!(moving["sandbox_settles_to"], expected, "{target:?} {id}");
        for nth in 1..=settle_reads {
            let status = target.read(&http, &sandbox, &read_id).await;
            assert!(
                target.is_in_progress(&status),
                "{target:?} {id} read {nth}: {status}"
            );
        }
        let settled = target.read(&http, &sandbox, &read_id).await;
        assert_eq!(settled, expected, "{target:?} {id}: settled");
        for _ in 0..2 {
            assert_eq!(
                target.read(&http, &sandbox, &read_id).await,
                settled,
                "stable"
            );
        }
        read_ids.insert(read_id.clone(), id.clone());
        outcomes.push((id, settled));
    }

    // `settled` names every item that settled (Skyvern: the new runs), with its final status.
    let settled: BTreeMap<String, String> = sandbox
        .settled(target.name())
        .into_iter()
        .map(|(read_id, status)| (read_ids[&read_id].clone(), status))
        .collect();
    let expected: BTreeMap<String, String> = outcomes
        .iter()
        .map(|(id, status)| {
            let text = status
                .as_str()
                .map_or_else(|| status.to_string(), str::to_owned);
            (id.clone(), text)
        })
        .collect();
    assert_eq!(settled, expected, "{target:?}");

    // A minority fails, and a retry of a failed item is accepted and fails again the same way.
    let failed: Vec<&(String, Value)> = outcomes
        .iter()
        .filter(|(_, status)| target.is_failure(status))
        .collect();
    assert!(
        !failed.is_empty() && failed.len() * 2 < outcomes.len(),
        "{target:?}: {} of {} failed",
        failed.len(),
        outcomes.len()
    );
    let (id, status) = failed[0];
    let read_id = read_ids
        .iter()
        .find_map(|(read_id, retried)| (retried == id).then_some(read_id))
        .expect("read id");
    let item = snapshot_of(&sandbox, target, read_id);
    assert_eq!(&item["sandbox_settles_to"], status, "{target:?} {id}");
    let again = target.retry(&http, &sandbox, &item).await;
    for _ in 0..settle_reads {
        assert!(target.is_in_progress(&target.read(&http, &sandbox, &again).await));
    }
    assert_eq!(
        &target.read(&http, &sandbox, &again).await,
        status,
        "fails again"
    );
    sandbox.shutdown().await;
    outcomes
}

#[tokio::test]
async fn every_api_settles_after_the_configured_reads() {
    for target in Target::ALL {
        for settle_reads in [0, 1, 3] {
            retry_and_settle(target, 7, settle_reads).await;
        }
    }
}

#[tokio::test]
async fn the_seed_and_the_id_decide_the_outcome() {
    for target in Target::ALL {
        let first = retry_and_settle(target, 7, 1).await;
        let again = retry_and_settle(target, 7, 2).await;
        assert_eq!(first, again, "{target:?}: same seed, same outcomes");
    }
    // Another seed fails other tasks (the generic API has the same ids under every seed).
    let failing = |outcomes: Vec<(String, Value)>| -> Vec<String> {
        outcomes
            .into_iter()
            .filter(|(_, status)| status == "failed")
            .map(|(id, _)| id)
            .collect()
    };
    assert_ne!(
        failing(retry_and_settle(Target::Http, 7, 1).await),
        failing(retry_and_settle(Target::Http, 8, 1).await)
    );
}

#[tokio::test]
async fn default_is_one_read_in_progress() {
    assert_eq!(SandboxConfig::default().settle_reads, 1);
    let sandbox = sandbox_settling(7, SandboxConfig::default().settle_reads).await;
    let http = client();
    let target = Target::Http;
    let item = sandbox
        .tasks("http")
        .into_iter()
        .find(|task| task["status"] == "failed")
        .expect("a failed task");
    let id = target.retry(&http, &sandbox, &item).await;
    assert_eq!(target.read(&http, &sandbox, &id).await, json!("running"));
    assert_eq!(
        target.read(&http, &sandbox, &id).await,
        item["sandbox_settles_to"]
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn lists_and_snapshots_do_not_move_work() {
    let sandbox = sandbox_settling(7, 1).await;
    let http = client();
    let target = Target::Http;
    let item = sandbox
        .tasks("http")
        .into_iter()
        .find(|task| task["status"] == "failed")
        .expect("a failed task");
    let id = target.retry(&http, &sandbox, &item).await;
    for _ in 0..3 {
        let (status, page) = status_and_json(
            target
                .authorized(http.get(target.url(&sandbox, "/tasks?status=queued")))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(page["tasks"][0]["id"], json!(id));
        assert_eq!(snapshot_of(&sandbox, target, &id)["status"], "queued");
    }
    assert!(sandbox.settled("http").is_empty());
    assert_eq!(target.read(&http, &sandbox, &id).await, "running");
    assert_eq!(snapshot_of(&sandbox, target, &id)["status"], "running");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn herodotus_walks_the_pipeline_with_transition_rows() {
    let sandbox = sandbox_settling(7, 2).await;
    let http = client();
    let target = Target::Herodotus;
    for item in sandbox
        .tasks("herodotus")
        .into_iter()
        .filter(|task| !task["sandbox_settles_to"].is_null())
    {
        let id = target.retry(&http, &sandbox, &item).await;
        let before = item["status"].as_str().expect("status").to_owned();
        let decommitment_only = before == "TaskDecommitmentFailed";
        let shown = [
            target.read(&http, &sandbox, &id).await,
            target.read(&http, &sandbox, &id).await,
            target.read(&http, &sandbox, &id).await,
        ];
        let end = item["sandbox_settles_to"].clone();
        assert_eq!(shown[2], end, "{id}");
        if decommitment_only {
            assert_eq!(shown[0], "TaskDecommitmentStarted", "{id}");
            assert_eq!(shown[1], "TaskDecommitmentStarted", "{id}");
        } else {
            assert_eq!(shown[0], "DryRunStarted", "{id}");
            assert!(
                shown[1] == "DryRunStarted" || shown[1] == "ChainProofsFetchStarted",
                "{id}: {}",
                shown[1]
            );
        }
        if end != "TaskDecommitmentCompleted" {
            assert_eq!(end, json!(before), "a failure fails at the same stage");
        }

        let (status, body) = status_and_json(
            http.get(target.url(&sandbox, &format!("/tasks/{id}/state_transitions")))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(status, 200);
        let rows = body["state_transitions"].as_array().expect("rows");
        let retry_at = rows
            .iter()
            .rposition(|row| row["to_status"] == "Received")
            .expect("the retry's row");
        let after: Vec<&Value> = rows[retry_at + 1..].iter().collect();
        for pair in rows[retry_at..].windows(2) {
            assert_eq!(
                pair[1]["from_status"], pair[0]["to_status"],
                "{id}: chained"
            );
        }
        let to: Vec<&Value> = after.iter().map(|row| &row["to_status"]).collect();
        assert_eq!(to.last(), Some(&&end), "{id}");
        assert!(to.contains(&&shown[0]) && to.contains(&&shown[1]), "{id}");
        if decommitment_only {
            assert_eq!(to.len(), 2, "{id}: {to:?}");
        } else if end == "TaskDecommitmentCompleted" {
            assert_eq!(to.len(), 10, "{id}: every stage started and completed");
        }

        let (_, status) = status_and_json(
            http.get(target.url(&sandbox, &format!("/tasks/{id}/status")))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(
            status["errorMessage"].is_string(),
            end != "TaskDecommitmentCompleted"
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn failures_carry_the_providers_error_fields() {
    let sandbox = sandbox_settling(7, 0).await;
    let http = client();
    for target in Target::ALL {
        let item = sandbox
            .tasks(target.name())
            .into_iter()
            .find(|item| {
                let end = &item["sandbox_settles_to"];
                !end.is_null() && target.is_failure(end)
            })
            .expect("an item that fails again");
        let id = target.retry(&http, &sandbox, &item).await;
        assert!(target.is_failure(&target.read(&http, &sandbox, &id).await));
        let after = snapshot_of(&sandbox, target, &id);
        match target {
            Target::Http => assert!(after["error"].is_string(), "{after}"),
            Target::Beam => assert!(
                after["taskSummary"]
                    .as_str()
                    .is_some_and(|summary| summary.starts_with("Task stopped: ")),
                "{after}"
            ),
            Target::Deepwork => assert!(after["error_message"].is_string(), "{after}"),
            Target::Herodotus => assert!(after["errorMessage"].is_string(), "{after}"),
            Target::Geelark => {
                assert_ne!(after["failCode"], json!(0), "{after}");
                assert_ne!(after["failDesc"], json!(""), "{after}");
            }
            Target::Skyvern => {
                assert!(after["failure_reason"].is_string(), "{after}");
                assert_eq!(after["sandbox_retry_of"], item["workflow_run_id"]);
                assert_eq!(
                    snapshot_of(
                        &sandbox,
                        target,
                        item["workflow_run_id"].as_str().expect("id")
                    )["status"],
                    item["status"],
                    "the retried run stays as it was"
                );
            }
        }
    }
    sandbox.shutdown().await;
}
