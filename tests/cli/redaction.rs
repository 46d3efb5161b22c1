//! Redaction comes before every cut (issue 7, case 3), and a credential read with `env()` is
//! redacted like a `secret()` (from case 7).
//!
//! A fake API echoes the key it was sent in error bodies that runbook quotes only in part (the
//! first 60 characters of a body that is not the JSON expected, 80 of an item without an id, 100
//! on the terminal): an HTML page, malformed JSON, form-encoded with lowercase hex, base64 inside
//! a larger blob at each alignment, and a page that holds only the key's first 20 characters.
//! Each is placed at offsets that put the cut inside the key. Before the fix the cut came first,
//! and a prefix of the key survived it, past the redactor, into stdout, stderr, both reports and
//! the ledger. Every byte runbook writes is scanned for any 8 characters in a row of the key, in
//! clear and in the encoding it was echoed in.

use axum::Router;
use axum::extract::{Path as UrlPath, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::canary::{STANDARD, URL_SAFE, assert_no_leak, base64, files};
use crate::{FakeApi, Ran, Runbook};

/// The key: distinctive, with characters that every encoding changes, and a valid header value.
const KEY: &str = "CANARY key+/\"7f&3a=9?#%'<z>-Wq4Xt2";

/// A stretch of `n` dots: text before the key that moves it against the cut.
fn dots(n: usize) -> String {
    ".".repeat(n)
}

/// The key as a form encoder with lowercase hex writes it (space as `+`).
fn form_encoded(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02x}"),
        })
        .collect()
}

/// The characters of base64 that depend on `key` alone when it starts `offset` bytes into a
/// larger blob.
fn base64_inside(key: &str, offset: usize, alphabet: &[u8; 64]) -> String {
    let shift = offset % 3;
    let mut blob = vec![0u8; shift];
    blob.extend_from_slice(key.as_bytes());
    let encoded = base64(&blob, alphabet, false);
    let trim = usize::from(!blob.len().is_multiple_of(3));
    encoded[[0, 2, 3][shift]..encoded.len() - trim].to_string()
}

/// The error body for the item `id` (`kind-offset`), echoing `key`.
fn error_page(id: &str, key: &str) -> Response {
    let (kind, offset) = id.rsplit_once('-').unwrap_or((id, "0"));
    let offset: usize = offset.parse().unwrap_or(0);
    let tail = "#".repeat(200);
    // `form` and `b64` bodies are plain text, quoted in part; `formmsg` and `b64msg` the same
    // text as a JSON message, quoted whole.
    let (kind, whole) = match kind.strip_suffix("msg") {
        Some(kind) => (kind, true),
        None => (kind, false),
    };
    let text = |body: String| {
        if whole {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({ "message": body })),
            )
                .into_response()
        } else {
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain")],
                body,
            )
                .into_response()
        }
    };
    match kind {
        "html" => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html")],
            format!("<p>{}{key}</p>{tail}", dots(offset - 3)),
        )
            .into_response(),
        // JSON that breaks off: quoted as the start of a malformed body.
        "json" => {
            let escaped = serde_json::to_string(key).unwrap_or_default();
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                format!(
                    "{{\"error\": \"{}{}{tail}",
                    dots(offset - 11),
                    escaped.trim_matches('"')
                ),
            )
                .into_response()
        }
        // A JSON message, read whole by the message path.
        "message" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"message": format!("{}{key}{tail}", dots(offset))})),
        )
            .into_response(),
        "form" => text(format!("{}{}&{tail}", dots(offset), form_encoded(key))),
        "b64" | "b64url" => {
            let alphabet = if kind == "b64" { STANDARD } else { URL_SAFE };
            let blob = format!("{}{key}{tail}", dots(offset));
            text(base64(blob.as_bytes(), alphabet, true))
        }
        // Text that only ever held the key's first 20 characters.
        "prefix" => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html")],
            format!("{}{} is not a known key{tail}", dots(offset), &key[..20]),
        )
            .into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The items, by id: every kind at offsets that put the 60-character cut before, inside and
/// after the key (for base64, `b64-40` puts the key's encoding at character 54), and the encoded
/// forms again where they are quoted whole (`…msg`), base64 at each of its three alignments.
const IDS: &[&str] = &[
    "html-3",
    "html-30",
    "html-40",
    "html-47",
    "html-52",
    "html-55",
    "html-59",
    "json-20",
    "json-45",
    "json-55",
    "message-0",
    "message-50",
    "form-30",
    "form-50",
    "form-57",
    "b64-40",
    "b64-41",
    "b64-42",
    "b64url-40",
    "b64url-41",
    "b64url-42",
    "formmsg-0",
    "b64msg-40",
    "b64msg-41",
    "b64msg-42",
    "b64urlmsg-40",
    "b64urlmsg-41",
    "b64urlmsg-42",
    "prefix-5",
    "prefix-50",
];

/// A task API that lists [`IDS`] (and an item with no id that holds the key 60 characters in)
/// and answers each retry with its error page.
fn echoing_api() -> FakeApi {
    let key_of = |headers: &HeaderMap| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(move |headers: HeaderMap| async move {
                    let key = key_of(&headers);
                    let mut tasks: Vec<_> = IDS
                        .iter()
                        .map(|id| json!({"id": id, "status": "failed"}))
                        .collect();
                    tasks.push(json!({"name": format!("{}{key}", dots(50)), "status": "failed"}));
                    axum::Json(json!({"tasks": tasks}))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(
                    move |UrlPath(id): UrlPath<String>, headers: HeaderMap| async move {
                        error_page(&id, &key_of(&headers))
                    },
                ),
            ),
    )
}

const PLAYBOOK: &str = r#"name: redaction
provider: http
connection:
  base_url: "{{ env('API_URL') }}"
  headers:
    x-api-key: "{{ secret('API_KEY') }}"
  backoff: {initial: 10ms, max: 20ms, attempts: 2}
steps:
  - fetch:
      request: {path: /tasks}
      items: $.tasks[*]
  - retry:
      request: {path: "/tasks/{{ task.id }}/retry"}
"#;

/// Every run of 8 characters of `text`.
fn windows(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(8).map(|w| w.iter().collect()).collect()
}

/// Fail if any 8 characters in a row of any of `needles` (named) are in stdout, stderr or any
/// file under the run's directory but the playbook: the reports, the ledger and its WAL. Returns
/// the names of what was scanned.
fn assert_no_window(ran: &Ran, needles: &[(&str, String)]) -> Vec<String> {
    let mut outputs = vec![
        ("stdout".to_string(), ran.stdout.clone().into_bytes()),
        ("stderr".to_string(), ran.stderr.clone().into_bytes()),
    ];
    outputs.extend(
        files(&ran.path("."))
            .into_iter()
            .filter(|(name, _)| !name.ends_with("playbook.yaml")),
    );
    let mut leaks = Vec::new();
    for (what, needle) in needles {
        for window in windows(needle) {
            for (name, bytes) in &outputs {
                if bytes.windows(window.len()).any(|w| w == window.as_bytes()) {
                    leaks.push(format!("{window:?} of the {what} in {name}"));
                }
            }
        }
    }
    leaks.dedup();
    assert!(
        leaks.is_empty(),
        "the key leaked:\n  {}\n{ran:?}",
        leaks.join("\n  ")
    );
    outputs.into_iter().map(|(name, _)| name).collect()
}

/// The key in every encoding the API echoed it in.
fn needles() -> Vec<(&'static str, String)> {
    let mut all = vec![
        ("key", KEY.to_string()),
        ("form-encoded key", form_encoded(KEY)),
        (
            "JSON-escaped key",
            serde_json::to_string(KEY)
                .unwrap_or_default()
                .trim_matches('"')
                .to_string(),
        ),
    ];
    for offset in [40, 41, 42] {
        all.push(("base64 key", base64_inside(KEY, offset, STANDARD)));
        all.push(("base64url key", base64_inside(KEY, offset, URL_SAFE)));
    }
    all
}

#[test]
fn regression_a_key_echoed_in_an_error_body_leaves_no_prefix_where_the_body_is_cut() {
    let api = echoing_api();
    let ran = Runbook::play(PLAYBOOK)
        .api(&api)
        .env("API_KEY", KEY)
        .report("report.md")
        .arg("-v")
        .run();
    ran.expect_code(1);
    let posts = api.with_method("POST");
    assert_eq!(posts.len(), IDS.len(), "{ran:?}");
    assert!(posts.iter().all(|p| p.header("x-api-key") == Some(KEY)));
    for id in IDS {
        assert_eq!(ran.item(id)["outcome"], "failed", "{id}");
    }
    let scanned = assert_no_window(&ran, &needles());
    for expected in ["report.json", "report.md", "ledger.db"] {
        assert!(
            scanned.iter().any(|s| s.ends_with(expected)),
            "{expected} among {scanned:?}"
        );
    }
    assert_no_leak(&ran, &[KEY]);
    // Whole messages where the cut falls inside the key: the key is replaced, then the text cut,
    // never inside the marker.
    let message = |id: &str| {
        ran.item(id)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        message("html-47"),
        format!(
            "HTTP 400: text/html starting \"<p>{}<redacted></…\"",
            dots(44)
        )
    );
    assert_eq!(
        message("html-55"),
        format!("HTTP 400: text/html starting \"<p>{}…\"", dots(52))
    );
    assert_eq!(
        message("json-45"),
        format!(
            "HTTP 400: truncated or malformed JSON (application/json) starting \"{{\\\"error\\\": \\\"{}<redacted>####…\"",
            dots(34)
        )
    );
    assert_eq!(
        message("prefix-50"),
        format!("HTTP 400: text/html starting \"{}…\"", dots(50))
    );
    assert_eq!(
        message("message-50"),
        format!("HTTP 422: {}<redacted>{}", dots(50), "#".repeat(200))
    );
    // The item without an id is told of on stderr (a log line, after its timestamp), its start
    // redacted before the cut at 80.
    assert!(
        ran.stderr.lines().filter_map(|l| l.split_once(' ')).any(|(_, l)| l
            == format!(
                "warning: step fetch: an item has no id at $.id (item: {{\"name\":\"{}<redacted>\",\"status\"…)",
                dots(50)
            )),
        "{ran:?}"
    );
}

#[test]
fn regression_a_failed_listing_that_echoes_the_key_leaves_no_prefix_of_it() {
    // The body is `offset` dots, the key, 100 `#`; quoted: redacted, then cut to 59 characters
    // and `…`, the marker dropped where the cut would split it.
    for (offset, quoted) in [
        (20, format!("{}<redacted>{}…", dots(20), "#".repeat(29))),
        (45, format!("{}<redacted>####…", dots(45))),
        (55, format!("{}…", dots(55))),
    ] {
        let api = FakeApi::start(Router::new().route(
            "/tasks",
            get(move |headers: HeaderMap| async move {
                let key = headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/html")],
                    format!("{}{key}{}", dots(offset), "#".repeat(100)),
                )
            }),
        ));
        let ran = Runbook::play(PLAYBOOK)
            .api(&api)
            .env("API_KEY", KEY)
            .report("report.md")
            .arg("-v")
            .run();
        ran.expect_code(1);
        let error = ran.report()["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_no_window(&ran, &needles());
        assert_eq!(
            error,
            format!(
                "GET {}/tasks: HTTP 500: text/html starting \"{quoted}\"",
                api.url()
            ),
            "offset {offset}"
        );
    }
}

/// A playbook that reads its token with `env()`, not `secret()`, and a region that is no secret.
/// The token goes only where nothing else marks it as a credential (not an `Authorization`
/// header): in a query parameter and in the body.
const ENV_PLAYBOOK: &str = r#"name: env-token
provider: http
connection:
  base_url: "{{ env('API_URL') }}"
steps:
  - fetch:
      request: {path: /tasks, query: {token: "{{ env('API_TOKEN') }}"}}
      items: $.tasks[*]
  - retry:
      request:
        path: "/tasks/{{ task.id }}/retry"
        body: {token: "{{ env('API_TOKEN') }}", region: "{{ env('REGION') }}"}
"#;

const TOKEN: &str = "tok-ENV-5e1f9a7c3b2d-canary";

#[test]
fn regression_a_token_read_with_env_stays_out_of_a_dry_run_plan_the_reports_and_the_ledger() {
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|Query(q): Query<Vec<(String, String)>>| async move {
                    let token = q
                        .iter()
                        .find(|(k, _)| k == "token")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    axum::Json(json!({"tasks": [
                        {"id": "t1", "status": "failed", "note": format!("listed for {token}")},
                    ]}))
                }),
            )
            .route(
                "/tasks/{id}/retry",
                post(|| async { StatusCode::NO_CONTENT }),
            ),
    );
    let ran = Runbook::play(ENV_PLAYBOOK)
        .api(&api)
        .env("API_TOKEN", TOKEN)
        .env("REGION", "eu-west-1")
        .report("report.md")
        .args(["--dry-run", "-v"])
        .run();
    ran.expect_code(0);
    assert!(
        api.with_method("POST").is_empty(),
        "a dry run sends no retry"
    );
    let listing = &api.requests()[0];
    assert_eq!(
        listing.param("token"),
        Some(TOKEN),
        "the real token is sent"
    );
    let planned = ran.item("t1");
    assert_eq!(planned["outcome"], "planned");
    assert_eq!(
        planned["request"],
        json!({
            "method": "POST",
            "url": format!("{}/tasks/t1/retry", api.url()),
            "body": {"token": "<redacted>", "region": "eu-west-1"},
        }),
        "{planned:#}"
    );
    let scanned = assert_no_window(&ran, &[("env() token", TOKEN.to_string())]);
    for expected in ["report.json", "report.md", "ledger.db"] {
        assert!(
            scanned.iter().any(|s| s.ends_with(expected)),
            "{expected} among {scanned:?}"
        );
    }
    assert_no_leak(&ran, &[TOKEN]);
}
