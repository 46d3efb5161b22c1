//! Canary runs of the echoing API: a normal run and its reports, verbose and quiet, a dry run,
//! a failed fetch and an aborted run, template errors, a secret no header can carry.

use axum::http::StatusCode;

use crate::Runbook;

use super::{ODD, PLAIN, PLAYBOOK, assert_no_leak, assert_sent, echoing_api, run};

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
