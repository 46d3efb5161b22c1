//! Canary secrets: a distinctive credential is planted where playbooks use secrets (an
//! `Authorization` header, a query parameter, a body, a URL path; GeeLark's API key, from which the
//! `sign` header is derived), fake APIs echo it back in every way an API can (a 401 naming the
//! token, an HTML error page, a JSON message, a cursor), and every byte runbook writes — stdout,
//! stderr, reports, the SQLite ledger and its WAL, anything else under the working directory — is
//! scanned for the canary in plain, URL-encoded, JSON-escaped and base64 forms.

use std::path::Path;

use axum::Router;
use axum::extract::{Path as UrlPath, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

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

#[test]
fn secrets_stay_out_of_a_normal_run_and_its_reports() {
    for secret in [PLAIN, ODD] {
        let api = echoing_api(StatusCode::OK);
        let ran = run(secret, &api, &[]);
        ran.expect_code(1);
        assert_sent(&api, secret);
        let posts = api.with_method("POST");
        assert!(posts.len() >= 4, "ok, echo, enc and html: {}", posts.len());
        assert!(posts.iter().all(|p| p.json()["token"] == secret));
        assert_eq!(ran.item("ok")["outcome"], "retried", "{:#}", ran.item("ok"));
        for id in ["echo", "html", "enc"] {
            assert_eq!(ran.item(id)["outcome"], "failed", "{id}");
        }
        let echo = ran.item("echo")["message"].to_string();
        assert!(echo.contains("<redacted>"), "{echo}");
        let scanned = assert_no_leak(&ran, &[secret, "OTHER-canary-2b7c"]);
        for expected in ["report.json", "x.md", "canary.md", "ledger.db"] {
            assert!(
                scanned.iter().any(|s| s.ends_with(expected)),
                "{expected} among {scanned:?}"
            );
        }
    }
}

#[test]
fn secrets_stay_out_of_verbose_and_quiet_runs() {
    for secret in [PLAIN, ODD] {
        for mode in ["-v", "--quiet"] {
            let api = echoing_api(StatusCode::OK);
            let ran = run(secret, &api, &[mode]);
            ran.expect_code(1);
            assert_sent(&api, secret);
            if mode == "-v" {
                assert!(ran.stderr.contains("/tasks/"), "{ran:?}");
            }
            assert_no_leak(&ran, &[secret, "OTHER-canary-2b7c"]);
        }
    }
}

#[test]
fn secrets_stay_out_of_a_dry_run_plan() {
    for secret in [PLAIN, ODD] {
        let api = echoing_api(StatusCode::OK);
        let ran = run(secret, &api, &["--dry-run", "-v"]);
        ran.expect_code(0);
        assert!(
            api.with_method("POST").is_empty(),
            "a dry run sends no retry"
        );
        let planned = ran.item("echo");
        assert_eq!(planned["outcome"], "planned");
        let request = planned["request"].to_string();
        assert!(request.contains("<redacted>"), "{request}");
        assert_no_leak(&ran, &[secret, "OTHER-canary-2b7c"]);
    }
}

#[test]
fn secrets_stay_out_of_a_failed_fetch_and_an_aborted_run() {
    for secret in [PLAIN, ODD] {
        // A listing that fails with a 500 naming the token: the fetch fails, the run goes on.
        let api = echoing_api(StatusCode::INTERNAL_SERVER_ERROR);
        let ran = run(secret, &api, &["-v"]);
        ran.expect_code(1);
        let message = ran.report()["errors"][0]["message"].to_string();
        assert!(message.contains("<redacted>"), "{message}");
        assert_no_leak(&ran, &[secret, "OTHER-canary-2b7c"]);

        // A 401 that echoes the token: the run is aborted, the report still written.
        let api = echoing_api(StatusCode::UNAUTHORIZED);
        let ran = run(secret, &api, &["-v"]);
        ran.expect_code(3);
        let aborted = ran.report()["aborted"].to_string();
        assert!(aborted.contains("authentication failed"), "{aborted}");
        assert_no_leak(&ran, &[secret, "OTHER-canary-2b7c"]);
    }
}

#[test]
fn secrets_stay_out_of_template_errors() {
    // Templates that fail at run time on the secret's value: each item fails with the template's
    // error, which may quote the value.
    let text = PLAYBOOK
        .replace(
            "other: \"{{ secret('OTHER') }}\"",
            "since: \"{{ ago(secret('API_TOKEN')) }}\"",
        )
        .replace(
            "nested: [\"x{{ secret('OTHER') }}y\"]",
            "when: \"{{ secret('API_TOKEN') | strftime('%Y') }}\"",
        );
    for secret in [PLAIN, ODD] {
        let api = echoing_api(StatusCode::OK);
        let ran = Runbook::play(&text)
            .api(&api)
            .env("API_TOKEN", secret)
            .arg("-v")
            .run();
        ran.expect_code(1);
        assert!(api.with_method("POST").is_empty(), "{ran:?}");
        let message = ran.item("echo")["message"].to_string();
        assert!(
            message.contains("`<redacted>` is not a duration"),
            "{message}"
        );
        assert_no_leak(&ran, &[secret]);
    }
    // A secret with no value, and `validate`: the name is said, no value to leak.
    let ran = Runbook::validate(PLAYBOOK).env("API_TOKEN", PLAIN).run();
    ran.expect_code(0);
    assert_no_leak(&ran, &[PLAIN]);
}

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

#[test]
fn a_secret_that_is_not_a_valid_header_value_is_not_quoted_in_the_error() {
    // A token read with its line end, or with a control character: the header cannot be sent.
    for secret in ["CANARY-s3cr3t-7f3a9\n", "CANARY-s3\u{1}cr3t-7f3a9"] {
        let api = echoing_api(StatusCode::OK);
        let ran = run(secret, &api, &["-v"]);
        assert_ne!(ran.code, 0, "{ran:?}");
        assert!(api.requests().is_empty(), "nothing can be sent: {ran:?}");
        assert_no_leak(&ran, &[secret, secret.trim()]);
    }
}

#[test]
fn a_past_run_shown_from_the_ledger_names_no_secret() {
    let api = echoing_api(StatusCode::OK);
    let ran = run(ODD, &api, &[]);
    ran.expect_code(1);
    let run_id = ran.report()["run_id"]
        .as_str()
        .expect("a run id")
        .to_string();
    for args in [
        vec!["history"],
        vec!["show", run_id.as_str()],
        vec!["show", run_id.as_str(), "-o", "again.json"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
            .args(&args)
            .current_dir(ran.path("."))
            .env_clear()
            .output()
            .expect("runbook runs");
        assert!(output.status.success(), "{args:?}: {output:?}");
        for (form, text) in forms(ODD) {
            for stream in [&output.stdout, &output.stderr] {
                assert!(
                    !contains(stream, text.as_bytes()),
                    "{form} form in {args:?}"
                );
            }
        }
    }
    assert_no_leak(&ran, &[ODD]);
}

/// On a terminal, progress is drawn as bars: run under `script` (a pseudo-terminal) where it is
/// installed, and scan what the terminal received.
#[test]
fn secrets_stay_out_of_the_progress_bars_on_a_terminal() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped: no `script` to give runbook a terminal");
        return;
    }
    for secret in [PLAIN, ODD] {
        let api = echoing_api(StatusCode::OK);
        let runbook = Runbook::new(["unused"]).file("playbook.yaml", PLAYBOOK);
        let line = format!(
            "'{}' play playbook.yaml -v -o report.json -o x.md",
            env!("CARGO_BIN_EXE_runbook")
        );
        let output = std::process::Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(runbook.dir())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "xterm-256color")
            .env("API_URL", api.url())
            .env("API_TOKEN", secret)
            .env("OTHER", "OTHER-canary-2b7c")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script runs");
        let terminal = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(1), "{terminal}");
        assert!(terminal.contains("retried"), "{terminal}");
        assert!(
            terminal.contains("\u{1b}[") && terminal.contains("(retry)"),
            "bars were drawn: {terminal:?}"
        );
        assert!(!api.with_method("POST").is_empty());
        assert_clean(
            vec![
                ("terminal".to_string(), output.stdout.clone()),
                ("stderr".to_string(), output.stderr.clone()),
            ],
            runbook.dir(),
            &[secret, "OTHER-canary-2b7c"],
            &terminal,
        );
    }
}

/// While a retry is in flight the ledger holds its intent in the WAL, not yet checkpointed: scan
/// the database, its `-wal` and `-shm` files then, and again once the run is over.
#[test]
fn the_ledger_and_its_wal_hold_no_secret_while_a_retry_is_in_flight() {
    let (arrived, arrival) = std::sync::mpsc::channel::<()>();
    let arrived = std::sync::Arc::new(std::sync::Mutex::new(arrived));
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let held = std::sync::Arc::clone(&release);
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async {
                    axum::Json(json!({"tasks": [{"id": "held", "status": "failed"}]}))
                }),
            )
            .route(
                "/tasks/{id}/retry/{*secret}",
                post(move || {
                    let arrived = std::sync::Arc::clone(&arrived);
                    let held = std::sync::Arc::clone(&held);
                    async move {
                        let _ = arrived.lock().map(|a| a.send(()));
                        held.notified().await;
                        StatusCode::NO_CONTENT
                    }
                }),
            ),
    );
    let runbook = Runbook::play(PLAYBOOK)
        .api(&api)
        .env("API_TOKEN", ODD)
        .env("OTHER", "OTHER-canary-2b7c");
    let child = runbook
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runbook starts");
    arrival
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the retry reaches the API");
    let during = assert_clean(
        Vec::new(),
        runbook.dir(),
        &[ODD, "OTHER-canary-2b7c"],
        "while the retry is in flight",
    );
    assert!(
        during.iter().any(|f| f.ends_with("ledger.db-wal")),
        "the WAL is there to scan: {during:?}"
    );
    release.notify_one();
    let output = child.wait_with_output().expect("runbook finishes");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_clean(
        vec![
            ("stdout".to_string(), output.stdout.clone()),
            ("stderr".to_string(), output.stderr.clone()),
        ],
        runbook.dir(),
        &[ODD, "OTHER-canary-2b7c"],
        "after the run",
    );
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
