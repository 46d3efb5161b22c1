//! Notifications (`notify:` on the report step): a local server receives the templated request
//! with the run's summary — also when the run aborted — the webhook's secret stays out of every
//! output, and a notification that cannot be delivered is a warning that leaves the exit code as
//! the run made it.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

const HOOK_TOKEN: &str = "hook-5e8d2c71b0aa";

/// Retries of `ok*` succeed, `auth*` are refused (401, aborts the run), the others 422; the
/// webhook at `/hook/{token}` answers `hook_status`.
fn api(hook_status: StatusCode) -> FakeApi {
    FakeApi::start(
        Router::new()
            .route(
                "/tasks/{id}/retry",
                post(|Path(id): Path<String>| async move {
                    if id.starts_with("ok") {
                        StatusCode::OK
                    } else if id.starts_with("auth") {
                        StatusCode::UNAUTHORIZED
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                }),
            )
            .route("/hook/{token}", post(move || async move { hook_status })),
    )
}

/// A playbook retrying `ids`, notifying `hook_base` (a template) with the summary.
fn notifying(ids: &str, hook_base: &str, when: &str) -> String {
    playbook(&format!(
        r#"  - fetch: {{ids: "{ids}"}}
  - retry:
      request: {{path: "/tasks/{{{{ task.id }}}}/retry"}}
  - report:
      notify:
        url: "{hook_base}/hook/{{{{ secret('HOOK_TOKEN') }}}}"
        headers: {{x-hook-token: "{{{{ secret('HOOK_TOKEN') }}}}"}}
        when: {when}
        body:
          text: "{{{{ summary.playbook }}}}: {{{{ summary.headline }}}}"
          counts: "{{{{ summary.counts }}}}"
          exit_code: "{{{{ summary.exit_code }}}}"
          aborted: "{{{{ summary.aborted }}}}"
          run: "{{{{ run.id }}}}"
"#
    ))
    .replace("name: test", "name: nightly")
}

/// `runbook play` of `text` against `api`, with the webhook's token set.
fn play(text: &str, api: &FakeApi) -> Runbook {
    Runbook::play(text).api(api).env("HOOK_TOKEN", HOOK_TOKEN)
}

/// The webhook served by the fake API itself.
const LOCAL: &str = "{{ env('API_URL') }}";

fn hooks(api: &FakeApi) -> Vec<crate::Recorded> {
    api.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/hook/"))
        .collect()
}

#[test]
fn the_notification_carries_the_summary_and_no_output_holds_its_secret() {
    let api = api(StatusCode::OK);
    let ran = play(&notifying("ok1 bad1", LOCAL, "always"), &api).run();
    ran.expect_code(1);
    let sent = hooks(&api);
    assert_eq!(sent.len(), 1, "sent once: {ran:?}");
    assert_eq!(sent[0].method, "POST");
    assert_eq!(sent[0].path, format!("/hook/{HOOK_TOKEN}"));
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    assert_eq!(sent[0].header("x-hook-token"), Some(HOOK_TOKEN));
    let body = sent[0].json();
    assert_eq!(body["text"], "nightly: retried 1 of 2 selected");
    assert_eq!(body["exit_code"], 1);
    assert_eq!(body["aborted"], json!(null));
    assert_eq!(body["counts"]["failed"], 1);
    assert_eq!(body["counts"]["retried"], 1);
    assert_eq!(body["run"], ran.report()["run_id"]);
    assert!(
        ran.stderr.contains(&format!("notified {}/…", api.url())),
        "{ran:?}"
    );
    for (name, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        assert!(
            !text.contains(HOOK_TOKEN),
            "{name} holds the token:\n{text}"
        );
    }
}

#[test]
fn an_aborted_run_still_notifies_with_its_reason_and_keeps_exit_3() {
    let api = api(StatusCode::OK);
    let ran = play(&notifying("auth1 ok1", LOCAL, "failure"), &api).run();
    ran.expect_code(3);
    let sent = hooks(&api);
    assert_eq!(sent.len(), 1, "{ran:?}");
    let body = sent[0].json();
    assert_eq!(body["exit_code"], 3);
    assert!(
        body["aborted"].as_str().is_some_and(|a| a.contains("401")),
        "the abort's reason: {body}"
    );
}

#[test]
fn a_dry_run_sends_no_notification() {
    let api = api(StatusCode::OK);
    let ran = play(&notifying("ok1", LOCAL, "always"), &api)
        .arg("--dry-run")
        .run();
    ran.expect_code(0);
    assert!(api.requests().is_empty(), "{ran:?}");
    assert!(
        ran.stderr
            .contains("dry run: the notification is not sent\n"),
        "{ran:?}"
    );
}

#[test]
fn when_failure_sends_nothing_after_a_run_that_succeeded() {
    let api = api(StatusCode::OK);
    let ran = play(&notifying("ok1", LOCAL, "failure"), &api).run();
    ran.expect_code(0);
    assert!(hooks(&api).is_empty(), "{ran:?}");
}

#[test]
fn an_undeliverable_notification_warns_and_leaves_the_exit_code_alone() {
    let dead = format!("http://127.0.0.1:{}", crate::closed_port());
    let api = api(StatusCode::INTERNAL_SERVER_ERROR);
    for (base, why) in [
        (dead.clone(), format!("{dead}/…: cannot connect")),
        (api.url(), format!("{}/…: answered HTTP 500", api.url())),
    ] {
        let ran = play(&notifying("ok1", &base, "always"), &api).run();
        ran.expect_code(0);
        assert!(
            ran.stderr.contains(&format!(
                "warning: the notification was not delivered: {why}; the run's exit code is unchanged"
            )),
            "{ran:?}"
        );
        assert!(!ran.stderr.contains(HOOK_TOKEN), "{}", ran.stderr);
    }
}

#[test]
fn a_notify_block_is_checked_at_load_with_its_line() {
    let text = notifying("ok1", LOCAL, "always")
        .replace("      notify:\n", "      notify:\n        method: FETCH\n");
    let ran = Runbook::validate(&text)
        .env("API_URL", "http://127.0.0.1:9")
        .env("HOOK_TOKEN", HOOK_TOKEN)
        .run();
    ran.expect_code(2);
    assert_eq!(
        ran.stderr,
        "error: unknown HTTP method `FETCH`\n  --> playbook.yaml:12:17\n   |\n12 |         method: FETCH\n   |                 ^^^^^\n   = help: use POST, PUT, PATCH, GET or DELETE\n"
    );
    let text =
        notifying("ok1", LOCAL, "always").replace("{{ summary.exit_code }}", "{{ item.id }}");
    let ran = Runbook::validate(&text)
        .env("API_URL", "http://127.0.0.1:9")
        .env("HOOK_TOKEN", HOOK_TOKEN)
        .run();
    ran.expect_code(2);
    assert!(
        ran.stderr
            .starts_with("error: unknown variable `item` in template\n  --> playbook.yaml:")
            && ran
                .stderr
                .ends_with("= help: here a template can use: vars, run, summary\n"),
        "only vars, run and summary: {ran:?}"
    );
}

/// The README's example, as its section shows it, sent after a failing run.
#[test]
fn the_readme_notify_example_runs() {
    let readme = std::fs::read_to_string(crate::repo_path("README.md")).expect("the README");
    let example = readme
        .split_once("<!-- notify-example -->\n```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("the README's notify example");
    let api = api(StatusCode::OK);
    let text = playbook(&format!(
        "  - fetch: {{ids: \"bad1\"}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n{example}"
    ))
    .replace("name: test", "name: nightly");
    let ran = Runbook::play(&text)
        .api(&api)
        .env(
            "SLACK_WEBHOOK_URL",
            &format!("{}/hook/{HOOK_TOKEN}", api.url()),
        )
        .run();
    ran.expect_code(1);
    let sent = hooks(&api);
    assert_eq!(sent.len(), 1, "{ran:?}");
    assert_eq!(
        sent[0].json(),
        json!({"text": "nightly (http): retried 0 of 1 selected, exit 1"})
    );
    assert!(ran.path("reports/nightly.xml").is_file());
    assert!(ran.path("reports/nightly.prom").is_file());
    assert!(!ran.stderr.contains(HOOK_TOKEN), "{}", ran.stderr);
}

/// A webhook that never answers holds the run up only for the notification's timeout.
#[test]
fn a_hook_that_never_answers_is_given_up_after_its_timeout() {
    let api = FakeApi::start(
        Router::new()
            .route("/tasks/{id}/retry", post(|| async { StatusCode::OK }))
            .route("/hook/{token}", post(std::future::pending::<StatusCode>)),
    );
    let text = notifying("ok1", LOCAL, "always")
        .replace("      notify:\n", "      notify:\n        timeout: 300ms\n");
    let started = std::time::Instant::now();
    let ran = play(&text, &api).run();
    ran.expect_code(0);
    assert!(
        ran.stderr.contains(&format!(
            "warning: the notification was not delivered: {}/…: no answer within 300ms; the run's exit code is unchanged",
            api.url()
        )),
        "{ran:?}"
    );
    assert_eq!(hooks(&api).len(), 1, "it did reach the hook");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "bounded by the timeout, not the hook"
    );
}
