//! Canary secrets: a distinctive credential is planted where playbooks use secrets (an
//! `Authorization` header, a query parameter, a body, a URL path; GeeLark's API key, from which the
//! `sign` header is derived), fake APIs echo it back in every way an API can (a 401 naming the
//! token, an HTML error page, a JSON message, a cursor), and every byte runbook writes — stdout,
//! stderr, reports, the SQLite ledger and its WAL, anything else under the working directory — is
//! scanned for the canary in plain, URL-encoded, JSON-escaped and base64 forms.//!
//! This file holds the planting and the scanning, the echoing fake API and the playbook; the
//! cases live beside it in `canary/`, one file per place a secret could leak.

mod basic_auth;
mod geelark;
mod ledger;
mod runs;
mod terminal;

use std::path::Path;

use axum::Router;
use axum::extract::{Path as UrlPath, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Ran, Runbook};

/// A plain canary.
const PLAIN: &str = "CANARY-s3cr3t-7f3a9";
/// A canary whose URL-encoded, JSON-escaped and base64 forms all differ from it. (No control or
/// non-ASCII characters: it must also be a valid header value.)
const ODD: &str = "C4N ARY+/\"s3c&r=t?#%'<x>";

/// Every form of `secret` that must not appear anywhere.
pub(crate) fn forms(secret: &str) -> Vec<(&'static str, String)> {
    let mut all = vec![
        ("plain", secret.to_string()),
        (
            "form-urlencoded",
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        ),
        ("percent-encoded", percent(secret, b"-._~")),
        ("percent-encoded, keeping /", percent(secret, b"-._/")),
        (
            "JSON-escaped",
            serde_json::to_string(secret)
                .expect("JSON")
                .trim_matches('"')
                .to_string(),
        ),
        ("base64", base64(secret.as_bytes(), STANDARD, true)),
        (
            "base64 unpadded",
            base64(secret.as_bytes(), STANDARD, false),
        ),
        ("base64url", base64(secret.as_bytes(), URL_SAFE, false)),
        (
            "Basic user:secret",
            base64(format!("user:{secret}").as_bytes(), STANDARD, true),
        ),
    ];
    all.dedup_by(|a, b| a.1 == b.1);
    all
}

pub(crate) fn percent(text: &str, keep: &[u8]) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || keep.contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) const STANDARD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub(crate) const URL_SAFE: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 written out here so that the test does not share code with what it tests.
pub(crate) fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

/// Every file under `dir`, recursively, as bytes (the ledger and its WAL included).
pub(crate) fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

/// Fail if any form of any of `secrets` is in anything the run wrote. Returns the names of the
/// files scanned.
pub(crate) fn assert_no_leak(ran: &Ran, secrets: &[&str]) -> Vec<String> {
    let outputs = vec![
        ("stdout".to_string(), ran.stdout.clone().into_bytes()),
        ("stderr".to_string(), ran.stderr.clone().into_bytes()),
    ];
    assert_clean(outputs, &ran.path("."), secrets, &format!("{ran:?}"))
}

/// Fail if any form of any of `secrets` is in `outputs` or in a file under `dir` (but the
/// playbook, which names secrets without their values).
pub(crate) fn assert_clean(
    mut outputs: Vec<(String, Vec<u8>)>,
    dir: &Path,
    secrets: &[&str],
    context: &str,
) -> Vec<String> {
    outputs.extend(
        files(dir)
            .into_iter()
            .filter(|(name, _)| !name.ends_with("playbook.yaml")),
    );
    let mut leaks = Vec::new();
    for secret in secrets {
        for (form, text) in forms(secret) {
            for (name, bytes) in &outputs {
                if contains(bytes, text.as_bytes()) {
                    leaks.push(format!("{form} form {text:?} in {name}"));
                }
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets leaked:\n  {}\n{context}",
        leaks.join("\n  ")
    );
    outputs.into_iter().map(|(name, _)| name).collect()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Echo every credential a request carries, in the forms an API might: the header, a query
/// parameter, the body, and base64 of them.
fn echo(headers: &HeaderMap, query: &[(String, String)], body: &str) -> String {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = auth.strip_prefix("Bearer ").unwrap_or(auth);
    let key = query
        .iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    format!(
        "rejected credential {token} (header {auth}, key {key}, encoded {}, base64 {}) body {body}",
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>(),
        base64(token.as_bytes(), STANDARD, true),
    )
}

/// A task API whose answers echo the credentials. Tasks: `ok` is retried, `echo` fails with a
/// JSON message naming the token, `html` gets an HTML error page that contains it (a 502: backed
/// off, then failed), `enc` a 400 with the token URL-encoded and in base64.
fn echoing_api(list_status: StatusCode) -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(
                    move |headers: HeaderMap, Query(q): Query<Vec<(String, String)>>| async move {
                        if list_status != StatusCode::OK {
                            let text = echo(&headers, &q, "");
                            return (list_status, axum::Json(json!({"message": text})))
                                .into_response();
                        }
                        axum::Json(json!({"tasks": [
                            {"id": "ok", "status": "failed"},
                            {"id": "echo", "status": "failed"},
                            {"id": "html", "status": "failed"},
                            {"id": "enc", "status": "failed"},
                        ]}))
                        .into_response()
                    },
                ),
            )
            .route(
                "/tasks/{id}/retry/{*secret}",
                post(
                    |UrlPath((id, secret)): UrlPath<(String, String)>,
                     headers: HeaderMap,
                     Query(q): Query<Vec<(String, String)>>,
                     body: String| async move {
                        answer(&id, &secret, &headers, &q, &body)
                    },
                ),
            ),
    )
}

fn answer(
    id: &str,
    path_secret: &str,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &str,
) -> Response {
    let text = format!("{} path {path_secret}", echo(headers, query, body));
    match id {
        "ok" => StatusCode::NO_CONTENT.into_response(),
        "echo" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"message": text, "detail": {"token": path_secret}})),
        )
            .into_response(),
        "html" => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            format!("{path_secret}<html><body><h1>502</h1><pre>{text}</pre></body></html>"),
        )
            .into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("{} / {}", percent(path_secret, b""), text),
        )
            .into_response(),
    }
}

/// A playbook that puts the secret everywhere a request can carry it.
const PLAYBOOK: &str = r#"name: canary
provider: http
connection:
  base_url: "{{ env('API_URL') }}"
  headers:
    Authorization: "Bearer {{ secret('API_TOKEN') }}"
  backoff: {initial: 10ms, max: 20ms, attempts: 2}
steps:
  - name: listed
    fetch:
      request:
        path: /tasks
        query: {key: "{{ secret('API_TOKEN') }}"}
      items: $.tasks[*]
  - retry:
      request:
        path: "/tasks/{{ task.id }}/retry/{{ secret('API_TOKEN') | urlencode }}"
        query: {key: "{{ secret('API_TOKEN') }}", other: "{{ secret('OTHER') }}"}
        body: {token: "{{ secret('API_TOKEN') }}", nested: ["x{{ secret('OTHER') }}y"]}
  - report:
      files: ["out/{{ run.playbook }}.md"]
"#;

fn run(secret: &str, api: &FakeApi, args: &[&str]) -> Ran {
    Runbook::play(PLAYBOOK)
        .api(api)
        .env("API_TOKEN", secret)
        .env("OTHER", "OTHER-canary-2b7c")
        .report("x.md")
        .args(args.iter().copied())
        .run()
}

/// The requests really carried the secret (else the test would prove nothing).
fn assert_sent(api: &FakeApi, secret: &str) {
    let requests = api.requests();
    assert!(!requests.is_empty());
    let auth = format!("Bearer {secret}");
    for r in &requests {
        assert_eq!(r.header("authorization"), Some(auth.as_str()));
        assert_eq!(r.param("key"), Some(secret));
    }
}
