//! Bad input: each mistake exits 2 with the file, line and column, the line quoted with a caret
//! under the mistake, and a hint where there is one, and nothing reaches the API (every playbook
//! here points at a journaling fake API and the test asserts it heard nothing).

use crate::{FakeApi, Ran, Runbook};

/// A playbook head pointing at `API_URL`, with one var; `steps` follow from line 7.
const HEAD: &str = "name: bad\nprovider: http\nvars: {agent_id: a-1, days: 7}\nconnection:\n  base_url: \"{{ env('API_URL') }}\"\nsteps:\n";

/// `runbook play` of `text` (plus `args`) against a fake API; it must be refused and send nothing.
fn refused(text: &str, args: &[&str]) -> Ran {
    let api = FakeApi::start(axum::Router::new());
    let ran = Runbook::play(text)
        .api(&api)
        .env("TOKEN", "t0ken-value")
        .args(args.iter().copied())
        .run();
    ran.expect_code(2);
    assert!(
        api.requests().is_empty(),
        "nothing may be sent: {:?}",
        api.requests()
    );
    ran
}

/// The diagnostic is at `place` (`file:line:col`), quotes a line with a caret under it, and has
/// `help` if given.
fn assert_located(ran: &Ran, message: &str, place: &str, help: Option<&str>) {
    let err = &ran.stderr;
    assert!(
        err.contains(&format!("error: {message}")),
        "message {message:?} in:\n{err}"
    );
    assert!(
        err.contains(&format!("--> {place}\n")),
        "place {place} in:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with('|') && l.trim_end().ends_with('^')),
        "a caret line in:\n{err}"
    );
    if let Some(help) = help {
        assert!(
            err.contains(&format!("= help: {help}")),
            "help {help:?} in:\n{err}"
        );
    }
}

#[test]
fn malformed_yaml() {
    let text = format!("{HEAD}  - fetch:\n      ids: \"a\n  - retry: {{}}\n");
    let ran = refused(&text, &[]);
    assert_located(&ran, "unclosed quote", "playbook.yaml:8:12", None);
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let text = HEAD.replace("connection:", "conection:") + "  - fetch: {ids: a}\n";
    let ran = refused(&text, &[]);
    assert_located(
        &ran,
        "unknown key `conection`",
        "playbook.yaml:4:1",
        Some("did you mean `connection`?"),
    );
}

#[test]
fn unknown_step_kind_is_pinpointed() {
    let text = format!("{HEAD}  - fetch: {{ids: a}}\n  - retyr:\n      request: {{path: /x}}\n");
    let ran = refused(&text, &[]);
    assert!(
        ran.stderr.contains(
            "error: unknown step kind `retyr`\n --> playbook.yaml:8:5\n  |\n8 |   - retyr:\n  |     ^^^^^\n  = help: did you mean `retry`?\n"
        ),
        "{ran:?}"
    );
}

#[test]
fn bad_duration() {
    let text = format!("{HEAD}  - fetch: {{ids: a}}\n  - filter:\n      since: 7 days\n");
    let ran = refused(&text, &[]);
    assert_located(
        &ran,
        "`7 days` is not a duration",
        "playbook.yaml:9:14",
        None,
    );
    assert!(ran.stderr.contains("like `500ms`, `30s`"), "{ran:?}");
}

#[test]
fn bad_rate() {
    let text = format!(
        "{HEAD}  - fetch: {{ids: a}}\n  - retry:\n      request: {{path: /x}}\n      rate: fast\n"
    );
    let ran = refused(&text, &[]);
    assert_located(&ran, "`fast` is not a rate", "playbook.yaml:10:13", None);
}

#[test]
fn invalid_jsonpath() {
    let text =
        format!("{HEAD}  - fetch:\n      request: {{path: /tasks}}\n      items: $.tasks[\n");
    let ran = refused(&text, &[]);
    assert_located(
        &ran,
        "`$.tasks[` is not a valid JSONPath",
        "playbook.yaml:9:14",
        None,
    );
}

#[test]
fn invalid_template_syntax_is_pinpointed() {
    let text = format!(
        "{HEAD}  - fetch: {{ids: a}}\n  - retry:\n      request:\n        path: \"/tasks/{{{{ task.id }}/retry\"\n"
    );
    let ran = refused(&text, &[]);
    assert!(
        ran.stderr.contains(" --> playbook.yaml:10:15\n   |\n10 |         path: \"/tasks/{{ task.id }/retry\"\n   |               ^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"),
        "{ran:?}"
    );
    assert_located(
        &ran,
        "invalid template: template syntax error",
        "playbook.yaml:10:15",
        Some("templates use minijinja syntax: {{ vars.name }}"),
    );
}

#[test]
fn validate_finds_an_undefined_variable_without_network() {
    let api = FakeApi::start(axum::Router::new());
    let text = format!(
        "{HEAD}  - fetch: {{ids: a}}\n  - retry:\n      request:\n        path: \"/agents/{{{{ vars.agnet_id }}}}/retry\"\n"
    );
    let ran = Runbook::validate(&text).api(&api).run();
    ran.expect_code(2);
    assert_located(
        &ran,
        "unknown variable `vars.agnet_id`",
        "playbook.yaml:10:15",
        Some("did you mean `vars.agent_id`?"),
    );
    assert!(api.requests().is_empty());
    // The same playbook, spelled right, validates.
    let fixed = text.replace("agnet_id", "agent_id");
    let ran = Runbook::validate(&fixed).api(&api).run();
    ran.expect_code(0);
    assert!(ran.stdout.contains("playbook.yaml: ok"), "{ran:?}");
    assert!(api.requests().is_empty());
}

#[test]
fn unknown_var_on_the_command_line() {
    let text = format!("{HEAD}  - fetch: {{ids: a}}\n");
    let ran = refused(&text, &["--var", "dayz=3"]);
    assert!(
        ran.stderr
            .contains("--var dayz: the playbook has no variable `dayz`"),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("--> playbook.yaml"), "{ran:?}");
    assert!(ran.stderr.contains("help: did you mean `days`?"), "{ran:?}");
    let ran = refused(&text, &["--var", "days=many"]);
    assert!(ran.stderr.contains("`days` is a number"), "{ran:?}");
    let ran = refused(&text, &["--var", "days"]);
    assert!(ran.stderr.contains("is not K=V"), "{ran:?}");
}

#[test]
fn missing_secret_names_the_variable() {
    let text = HEAD.replace(
        "steps:\n",
        "  headers:\n    Authorization: \"Bearer {{ secret('TASKS_API_TOKEN') }}\"\nsteps:\n",
    ) + "  - fetch:\n      request: {path: /tasks}\n      items: $.tasks[*]\n";
    let ran = refused(&text, &[]);
    assert!(
        ran.stderr.contains("secret TASKS_API_TOKEN is not set"),
        "{ran:?}"
    );
}

/// Regression: a secret used only by the retry request let the reads go out and then failed every
/// item; it is now refused before anything is sent.
#[test]
fn a_missing_secret_in_a_retry_request_stops_the_run_before_any_read() {
    let text = format!(
        "{HEAD}  - fetch:\n      request: {{path: /tasks}}\n      items: $.tasks[*]\n  - retry:\n      request:\n        path: /retry\n        body: {{key: \"{{{{ secret('RETRY_KEY') }}}}\"}}\n"
    );
    let ran = refused(&text, &[]);
    assert!(
        ran.stderr.contains("secret RETRY_KEY is not set"),
        "{ran:?}"
    );
}

#[test]
fn validate_checks_every_file_and_fails_if_any_is_bad() {
    let good = format!("{HEAD}  - fetch: {{ids: a}}\n");
    let bad = format!("{HEAD}  - fetch: {{ids: a}}\n  - retyr: {{}}\n");
    let ran = Runbook::new(["validate", "good.yaml", "bad.yaml", "missing.yaml"])
        .file("good.yaml", &good)
        .file("bad.yaml", &bad)
        .run();
    ran.expect_code(2);
    assert!(ran.stdout.contains("good.yaml: ok"), "{ran:?}");
    assert!(ran.stderr.contains("--> bad.yaml:8:5"), "{ran:?}");
    assert!(
        ran.stderr.contains("cannot read playbook missing.yaml"),
        "{ran:?}"
    );
}

#[test]
fn unknown_provider_suggests_the_right_one() {
    let text = HEAD.replace("provider: http", "provider: htp") + "  - fetch: {ids: a}\n";
    let ran = refused(&text, &[]);
    assert_located(
        &ran,
        "unknown provider `htp`",
        "playbook.yaml:2:11",
        Some("did you mean `http`?"),
    );
}

#[test]
fn an_input_naming_no_earlier_step_suggests_one() {
    let text =
        format!("{HEAD}  - name: listed\n    fetch: {{ids: a}}\n  - filter:\n      input: lsted\n");
    let ran = refused(&text, &[]);
    assert_located(
        &ran,
        "no step before this one is named `lsted`",
        "playbook.yaml:10:14",
        Some("did you mean `listed`?"),
    );
}
