//! The shared opening of get-one handlers (`gate.rs`): credentials first, then the path's ids,
//! each refusal in the API's own dialect.

use serde_json::{Value, json};

use super::{client, sandbox, status_and_json};
use crate::sandbox::Sandbox;

/// An id whose percent-encoding is not UTF-8, so the path's ids do not decode.
const UNDECODABLE: &str = "%FF%FE";

async fn get(sandbox: &Sandbox, api: &str, path: &str, auth: (&str, &str)) -> (u16, Value) {
    let url = format!("{}{path}", sandbox.base_url(api).expect("api served"));
    let response = client()
        .get(url)
        .header(auth.0, auth.1)
        .send()
        .await
        .expect("sent");
    status_and_json(response).await
}

#[tokio::test]
async fn credentials_are_checked_before_an_undecodable_id() {
    let sandbox = sandbox(3, 0.0).await;
    let wrong = ("authorization", "Bearer wrong");
    let task = format!("/api/mission-control/tasks/{UNDECODABLE}");
    assert_eq!(
        get(&sandbox, "deepwork", &task, wrong).await,
        (401, json!({"detail": "Unauthorized"}))
    );
    let task = format!("/tasks/{UNDECODABLE}");
    assert_eq!(
        get(&sandbox, "http", &task, wrong).await,
        (
            401,
            json!({"error": "unauthorized", "message": "missing or invalid bearer token"})
        )
    );
    let run = format!("/v1/runs/{UNDECODABLE}");
    assert_eq!(
        get(&sandbox, "skyvern", &run, ("x-api-key", "wrong")).await,
        (403, json!({"detail": "Could not validate credentials"}))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_undecodable_id_gets_each_apis_own_answer() {
    let sandbox = sandbox(3, 0.0).await;
    let task = format!("/api/mission-control/tasks/{UNDECODABLE}");
    let bearer = ("authorization", "Bearer pp_sandbox_token");
    assert_eq!(
        get(&sandbox, "deepwork", &task, bearer).await,
        (404, json!({"detail": "Not Found"}))
    );
    let task = format!("/tasks/{UNDECODABLE}");
    let (status, body) = get(
        &sandbox,
        "http",
        &task,
        ("authorization", "Bearer sandbox-token"),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("bad_request")),
        "{body}"
    );
    let run = format!("/v1/runs/{UNDECODABLE}");
    let key = ("x-api-key", "sk_sandbox_skyvern_key");
    assert_eq!(
        get(&sandbox, "skyvern", &run, key).await,
        (404, json!({"detail": "Task run not found "}))
    );
    sandbox.shutdown().await;
}
