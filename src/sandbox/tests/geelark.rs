//! The GeeLark emulation under `/geelark`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{client, sandbox, status_and_json};
use crate::sandbox::Sandbox;
use crate::sandbox::geelark::{API_KEY, APP_ID, TOKEN, signature};

const TRACE: &str = "db6094ab-3797-4186-84d5-b0b58eebad56";

fn url(sandbox: &Sandbox, endpoint: &str) -> String {
    format!(
        "{}/open/v1/task/{endpoint}",
        sandbox.base_url("geelark").expect("geelark api")
    )
}

/// A key-mode signed call.
async fn call(sandbox: &Sandbox, endpoint: &str, body: Value) -> (u16, Value) {
    let ts = "1716972892166";
    let nonce = &TRACE[..6];
    let request = client()
        .post(url(sandbox, endpoint))
        .header("traceId", TRACE)
        .header("appId", APP_ID)
        .header("ts", ts)
        .header("nonce", nonce)
        .header("sign", signature(APP_ID, TRACE, ts, nonce, API_KEY))
        .json(&body);
    status_and_json(request.send().await.expect("sent")).await
}

fn ids_where(sandbox: &Sandbox, predicate: impl Fn(&Value) -> bool) -> Vec<String> {
    sandbox
        .tasks("geelark")
        .iter()
        .filter(|task| predicate(task))
        .filter_map(|task| task["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn signature_is_upper_hex_sha256_of_the_concatenation() {
    assert_eq!(
        signature(
            "eH6gQR4oHr3FsZpI36La01IW",
            TRACE,
            "1716972892166",
            "db6094",
            "secret"
        ),
        "A9D5DAEC1A9A1FBC1FC7728DA4C3DD5D49409C536154CB5C1D5F6A2DB46C3993"
    );
}

#[tokio::test]
async fn auth_failures_are_envelopes() {
    let sandbox = sandbox(7, 0.0).await;
    let target = url(&sandbox, "query");
    let body = json!({"ids": ["1"]});

    let (status, answer) = status_and_json(
        client()
            .post(&target)
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, answer["code"].clone(), answer["traceId"].clone()),
        (200, json!(40002), json!(""))
    );

    let bad_sign = client()
        .post(&target)
        .header("traceId", TRACE)
        .header("appId", APP_ID)
        .header("ts", "1")
        .header("nonce", &TRACE[..6])
        .header(
            "sign",
            signature(APP_ID, TRACE, "1", &TRACE[..6], "wrong-key"),
        )
        .json(&body);
    let (status, answer) = status_and_json(bad_sign.send().await.expect("sent")).await;
    assert_eq!((status, answer["code"].clone()), (200, json!(40003)));
    assert_eq!(answer["traceId"], json!(TRACE));

    let lower_case = client()
        .post(&target)
        .header("traceId", TRACE)
        .header("appId", APP_ID)
        .header("ts", "1")
        .header("nonce", &TRACE[..6])
        .header(
            "sign",
            signature(APP_ID, TRACE, "1", &TRACE[..6], API_KEY).to_lowercase(),
        )
        .json(&body);
    assert_eq!(
        status_and_json(lower_case.send().await.expect("sent"))
            .await
            .1["code"],
        json!(40003)
    );

    let wrong_nonce = client()
        .post(&target)
        .header("traceId", TRACE)
        .header("appId", APP_ID)
        .header("ts", "1")
        .header("nonce", "abcdef")
        .header("sign", signature(APP_ID, TRACE, "1", "abcdef", API_KEY))
        .json(&body);
    assert_eq!(
        status_and_json(wrong_nonce.send().await.expect("sent"))
            .await
            .1["code"],
        json!(40003)
    );

    let bearer = client()
        .post(&target)
        .header("traceId", TRACE)
        .bearer_auth(TOKEN)
        .json(&body);
    let (_, answer) = status_and_json(bearer.send().await.expect("sent")).await;
    assert_eq!(
        (answer["code"].clone(), answer["msg"].clone()),
        (json!(0), json!("success"))
    );
    let bad_bearer = client()
        .post(&target)
        .header("traceId", TRACE)
        .bearer_auth("nope")
        .json(&body);
    assert_eq!(
        status_and_json(bad_bearer.send().await.expect("sent"))
            .await
            .1["code"],
        json!(40003)
    );

    let (_, answer) = call(&sandbox, "query", json!({"ids": []})).await;
    assert_eq!(answer["code"], json!(40004));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn history_pages_by_last_id_within_seven_days() {
    let sandbox = sandbox(7, 0.0).await;
    let mut seen = Vec::new();
    let mut last_id: Option<String> = None;
    loop {
        let (status, answer) = call(
            &sandbox,
            "historyRecords",
            json!({"size": 5, "lastId": last_id}),
        )
        .await;
        assert_eq!(
            (status, answer["code"].clone()),
            (200, json!(0)),
            "{answer}"
        );
        assert_eq!(answer["data"]["total"], json!(24));
        let items = answer["data"]["items"].as_array().expect("items").clone();
        if items.is_empty() {
            break;
        }
        last_id = items
            .last()
            .and_then(|item| item["id"].as_str().map(str::to_owned));
        seen.extend(
            items
                .into_iter()
                .map(|item| item["id"].as_str().expect("id").to_owned()),
        );
        assert!(seen.len() <= 30);
    }
    assert_eq!(seen.len(), 24);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 24);

    let (_, answer) = call(&sandbox, "historyRecords", json!({"size": 101})).await;
    assert_eq!(answer["code"], json!(40004));
    let (_, answer) = call(&sandbox, "historyRecords", json!({"lastId": "123"})).await;
    assert_eq!(answer["code"], json!(40008));
    let (_, answer) = call(&sandbox, "historyRecords", json!({})).await;
    assert_eq!(answer["data"]["items"].as_array().map(Vec::len), Some(10));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn restart_reports_each_id_and_requeues() {
    let sandbox = sandbox(7, 0.0).await;
    let plain_failed = ids_where(&sandbox, |task| {
        task["status"] == json!(4)
            && task["envDeleted"] == json!(false)
            && task["resourceExpired"] == json!(false)
            && task["restartCount"] == json!(0)
    });
    assert_eq!(plain_failed.len(), 10, "7 in the window, 3 older");
    let cancelled = ids_where(&sandbox, |task| task["status"] == json!(7));
    let completed = ids_where(&sandbox, |task| task["status"] == json!(3));
    let env_deleted = ids_where(&sandbox, |task| task["envDeleted"] == json!(true));
    let expired = ids_where(&sandbox, |task| task["resourceExpired"] == json!(true));
    let exhausted = ids_where(&sandbox, |task| task["restartCount"] == json!(5));
    let ids = [
        plain_failed[0].clone(),
        cancelled[0].clone(),
        completed[0].clone(),
        "1".to_owned(),
        env_deleted[0].clone(),
        expired[0].clone(),
        exhausted[0].clone(),
    ];
    let (status, answer) = call(&sandbox, "restart", json!({"ids": ids})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (answer["code"].clone(), answer["msg"].clone()),
        (json!(40006), json!("partial success"))
    );
    assert_eq!(answer["traceId"], json!(TRACE));
    let data = &answer["data"];
    assert_eq!(
        (
            data["totalAmount"].clone(),
            data["successAmount"].clone(),
            data["failAmount"].clone()
        ),
        (json!(7), json!(2), json!(5))
    );
    let codes: Vec<Value> = data["failDetails"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["code"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            json!("48001"),
            json!("48002"),
            json!("40005"),
            json!("48003"),
            json!("48000")
        ]
    );

    let waiting = ids_where(&sandbox, |task| task["status"] == json!(1));
    assert!(waiting.contains(&ids[0]) && waiting.contains(&ids[1]));
    // The first read after a restart shows the task in progress (see `settle.rs`).
    let (_, answer) = call(&sandbox, "query", json!({"ids": [ids[0], ids[1]]})).await;
    let items = answer["data"]["items"].as_array().expect("items");
    assert!(items.iter().all(|item| item["status"] == json!(2)));
    let restarted = ids_where(&sandbox, |task| task["restartCount"] == json!(1));
    assert_eq!(restarted.len(), 2);

    let (_, answer) = call(&sandbox, "restart", json!({"ids": [ids[0]]})).await;
    assert_eq!(answer["code"], json!(40009));
    let (_, answer) = call(&sandbox, "restart", json!({"ids": [plain_failed[1]]})).await;
    assert_eq!(answer["code"], json!(0));
    assert_eq!(answer["data"]["failDetails"], json!([]));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rate_limit_fault_is_code_40007() {
    let sandbox = sandbox(7, 1.0).await;
    let before = sandbox.tasks("geelark");
    let failed = ids_where(&sandbox, |task| task["status"] == json!(4));
    let (first, _) = call(&sandbox, "restart", json!({"ids": [failed[0]]})).await;
    assert_eq!(first, 503);
    let (second, answer) = call(&sandbox, "restart", json!({"ids": [failed[0]]})).await;
    assert_eq!(second, 200);
    assert_eq!(
        answer,
        json!({"traceId": TRACE, "code": 40007, "msg": "too many requests", "data": null})
    );
    assert_eq!(sandbox.tasks("geelark"), before);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn optional_per_endpoint_limit() {
    let sandbox = sandbox(7, 0.0).await;
    sandbox.set_geelark_rate_limit(Some(2));
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(call(&sandbox, "historyRecords", json!({})).await.1["code"].clone());
    }
    codes.push(call(&sandbox, "query", json!({"ids": ["1"]})).await.1["code"].clone());
    assert_eq!(codes, [json!(0), json!(0), json!(40007), json!(0)]);
    sandbox.set_geelark_rate_limit(None);
    assert_eq!(
        call(&sandbox, "historyRecords", json!({})).await.1["code"],
        json!(0)
    );
    sandbox.shutdown().await;
}
