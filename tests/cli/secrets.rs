//! Secrets stay out of everything runbook writes, even when an API echoes them back in an error.

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::json;

use crate::{FakeApi, Runbook};

const TOKEN: &str = "tok-9f8e7d6c5b4a";

#[test]
fn a_secret_echoed_by_the_api_is_redacted_everywhere() {
    let echo = |headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"message": format!("credential {auth} may not retry")})),
        )
    };
    let api = FakeApi::start(
        Router::new()
            .route(
                "/tasks",
                get(|| async { axum::Json(json!({"tasks": [{"id": "a"}, {"id": "b"}]})) }),
            )
            .route("/tasks/{id}/retry", post(echo)),
    );
    let text = r#"name: secrets
provider: http
connection:
  base_url: "{{ env('API_URL') }}"
  headers:
    Authorization: "Bearer {{ secret('API_TOKEN') }}"
steps:
  - fetch:
      request: {path: /tasks}
      items: $.tasks[*]
  - retry:
      request: {path: "/tasks/{{ task.id }}/retry"}
"#;
    let ran = Runbook::play(text)
        .api(&api)
        .env("API_TOKEN", TOKEN)
        .report("report.md")
        .arg("--verbose")
        .run();
    ran.expect_code(1);
    let posts = api.with_method("POST");
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str()),
        "the real token is sent"
    );
    let message = ran.item("a")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("credential <redacted> may not retry"),
        "{message}"
    );
    let json = std::fs::read_to_string(ran.path("report.json")).expect("report.json");
    let md = std::fs::read_to_string(ran.path("report.md")).expect("report.md");
    for (what, text) in [
        ("report.json", json.as_str()),
        ("report.md", md.as_str()),
        ("stdout", &ran.stdout),
        ("stderr", &ran.stderr),
    ] {
        assert!(
            !text.contains(TOKEN),
            "the token leaked into {what}:\n{text}"
        );
    }
}
