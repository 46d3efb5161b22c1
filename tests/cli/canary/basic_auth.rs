//! Basic auth: the header is redacted whole, and its base64 parts each.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use serde_json::json;

use crate::{FakeApi, Runbook};

use super::{PLAIN, PLAYBOOK, STANDARD, assert_no_leak, base64};

#[test]
fn basic_auth_is_redacted_as_a_whole_and_in_its_parts() {
    // The secret is the header's base64 of `user:canary`; the API echoes the header and what it
    // decodes to.
    let text = PLAYBOOK.replace(
        "Authorization: \"Bearer {{ secret('API_TOKEN') }}\"",
        "Authorization: \"Basic {{ secret('BASIC') }}\"",
    );
    let api = FakeApi::start(Router::new().route(
        "/tasks",
        get(|headers: HeaderMap| async move {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let decoded = auth
                .strip_prefix("Basic ")
                .map(|b| decode_base64(b.trim()))
                .unwrap_or_default();
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"message": format!("{auth} is {decoded}, which is refused")})),
            )
        }),
    ));
    let basic = base64(format!("user:{PLAIN}").as_bytes(), STANDARD, true);
    let ran = Runbook::play(&text)
        .api(&api)
        .env("API_TOKEN", "unused-token")
        .env("OTHER", "OTHER-canary-2b7c")
        .env("BASIC", &basic)
        .arg("-v")
        .run();
    ran.expect_code(1);
    assert_eq!(
        api.requests()[0].header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert_no_leak(&ran, &[PLAIN, &basic]);
}

fn decode_base64(text: &str) -> String {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let Some(v) = STANDARD.iter().position(|a| *a == c) else {
            break;
        };
        bits = bits << 6 | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
