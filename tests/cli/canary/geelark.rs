//! GeeLark: in key mode neither the key nor any `sign` derived from it is written; in token mode
//! the token the adapter adds itself is not either.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

use crate::{FakeApi, Runbook};

use super::{ODD, PLAIN, STANDARD, assert_no_leak, base64};

/// A GeeLark API whose answers echo the `sign` header and, though no real API would, the key.
fn geelark_api(key: &'static str) -> FakeApi {
    let reply = move |headers: HeaderMap, body: String| async move {
        let sign = headers
            .get("sign")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        (sign, request)
    };
    FakeApi::start(
        Router::new()
            .route(
                "/open/v1/task/historyRecords",
                post(move |headers: HeaderMap, body: String| async move {
                    let (sign, request) = reply(headers, body).await;
                    if request.get("lastId").is_some() {
                        return axum::Json(json!({"traceId": sign, "code": 0, "msg": "ok",
                            "data": {"items": []}}));
                    }
                    axum::Json(json!({"traceId": sign, "code": 0, "msg": format!("listed for {sign}"),
                        "data": {"items": [
                            {"id": "t1", "status": 4, "serialName": format!("key {key}"), "failDesc": sign},
                            {"id": "t2", "status": 4, "serialName": "two"},
                        ]}}))
                }),
            )
            .route(
                "/open/v1/task/restart",
                post(move |headers: HeaderMap, body: String| async move {
                    let (sign, _) = reply(headers, body).await;
                    axum::Json(json!({"traceId": sign, "code": 40000,
                        "msg": format!("signature {sign} does not match the key {key} ({})",
                            base64(key.as_bytes(), STANDARD, true)),
                        "data": null}))
                }),
            ),
    )
}

#[test]
fn geelark_key_mode_keeps_the_key_and_every_sign_out_of_the_output() {
    for key in [PLAIN, ODD] {
        let api = geelark_api(key);
        let ran = Runbook::play(
            "name: geelark-canary\nprovider: geelark\nsteps:\n  - fetch: {}\n  - retry: {rate: 100/s}\n",
        )
        .env("GEELARK_BASE_URL", &api.url())
        .env("GEELARK_APP_ID", "app-1")
        .env("GEELARK_API_KEY", key)
        .report("x.md")
        .arg("-v")
        .run();
        ran.expect_code(1);
        let requests = api.requests();
        let signs: Vec<String> = requests
            .iter()
            .filter_map(|r| r.header("sign").map(str::to_string))
            .collect();
        assert_eq!(signs.len(), requests.len(), "every request is signed");
        assert!(requests.iter().all(|r| r.header("authorization").is_none()));
        assert_eq!(ran.item("t1")["outcome"], "failed");
        let mut secrets: Vec<&str> = signs.iter().map(String::as_str).collect();
        secrets.push(key);
        assert_no_leak(&ran, &secrets);
    }
}

/// Token mode, chosen because no key is set: the adapter adds `Authorization: Bearer` itself, no
/// template reads the token, and the API echoes it.
#[test]
fn geelark_token_mode_keeps_the_token_out_of_the_output() {
    for token in [PLAIN, ODD] {
        let api = geelark_api(token);
        let ran = Runbook::play(
            "name: geelark-canary\nprovider: geelark\nsteps:\n  - fetch: {}\n  - retry: {rate: 100/s}\n",
        )
        .env("GEELARK_BASE_URL", &api.url())
        .env("GEELARK_TOKEN", token)
        .arg("-v")
        .run();
        ran.expect_code(1);
        let bearer = format!("Bearer {token}");
        assert!(
            api.requests()
                .iter()
                .all(|r| r.header("authorization") == Some(bearer.as_str())),
            "{ran:?}"
        );
        assert_no_leak(&ran, &[token]);
    }
}
