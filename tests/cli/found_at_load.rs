//! Mistakes that once passed `validate` and showed only as a quiet wrong run: an invalid regular
//! expression in a filter (which selected nothing), and a template that cannot be rendered
//! whatever the data — out of fuel, recursion too deep — which failed item after item and exited
//! with 1. Now each is a located error at load (exit 2, nothing sent) wherever it can be found
//! without the network; a template that breaks only on some item's data stops the run with exit 2.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;

use crate::{FakeApi, Ran, Runbook, playbook};

/// `validate` and `play` both refuse `text` with exactly `expected` on stderr; nothing is sent.
fn refused_at_load(text: &str, expected: &str) {
    let api = FakeApi::start(Router::new());
    let validated = Runbook::validate(text).api(&api).run();
    validated.expect_code(2);
    assert_eq!(validated.stderr, expected, "{validated:?}");
    let played = Runbook::play(text).api(&api).run();
    played.expect_code(2);
    assert_eq!(played.stderr, expected, "{played:?}");
    assert!(api.requests().is_empty(), "nothing may be sent");
}

/// Regression: `where: "search(@.id, '[')"` passed `validate` and then selected nothing.
#[test]
fn an_invalid_regex_in_where_is_a_located_error() {
    let text =
        playbook("  - fetch: {ids: \"a b\"}\n  - filter:\n      where: \"search(@.id, '[')\"\n");
    refused_at_load(
        &text,
        "error: `search(@.id, '[')`: the pattern '[' of search() is not a valid regular expression (unclosed character class); escape a literal `[`, `(` or `\\` with a backslash\n --> playbook.yaml:9:14\n  |\n9 |       where: \"search(@.id, '[')\"\n  |              ^^^^^^^^^^^^^^^^^^^\n",
    );
}

#[test]
fn an_invalid_regex_in_match_inside_an_items_path_is_a_located_error() {
    let text = playbook(
        "  - fetch:\n      request: {path: /tasks}\n      items: \"$.tasks[?match(@.status, 'FAIL(ED')]\"\n",
    );
    refused_at_load(
        &text,
        "error: `$.tasks[?match(@.status, 'FAIL(ED')]` is not a valid JSONPath: the pattern 'FAIL(ED' of match() is not a valid regular expression (unclosed group); escape a literal `[`, `(` or `\\` with a backslash\n --> playbook.yaml:9:14\n  |\n9 |       items: \"$.tasks[?match(@.status, 'FAIL(ED')]\"\n  |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
    );
}

#[test]
fn a_valid_regex_in_where_selects() {
    let api = FakeApi::start(Router::new());
    let text = playbook(
        "  - fetch: {ids: \"t-1 x-2 t-3\"}\n  - filter:\n      where: \"search(@.id, '^t-')\"\n  - retry:\n      request: {path: \"/tasks/{{ task.id | urlencode }}/retry\"}\n",
    );
    let ran = Runbook::play(&text)
        .api(&api)
        .args(["--quiet", "--dry-run"])
        .run();
    ran.expect_code(0);
    assert_eq!(
        ran.outcomes(),
        crate::outcomes(&[("t-1", "planned"), ("t-3", "planned")])
    );
}

const HELP: &str = "= help: a template may run 200000 instructions and nest calls 64 deep: look for a loop or a macro that does not end\n";

/// Regression: a retry path that recursed without end passed `validate`, then failed every item
/// with exit 1.
#[test]
fn a_template_that_recurses_without_end_is_found_by_validate() {
    let text = playbook(
        "  - fetch: {ids: \"a\"}\n  - retry:\n      request:\n        path: \"{% macro f(n) %}{{ f(n) }}{% endmacro %}/tasks/{{ f(1) }}\"\n",
    );
    refused_at_load(
        &text,
        &format!(
            "error: the template cannot be rendered: invalid operation: recursion limit exceeded\n  --> playbook.yaml:10:15\n   |\n10 |         path: \"{{% macro f(n) %}}{{{{ f(n) }}}}{{% endmacro %}}/tasks/{{{{ f(1) }}}}\"\n   |               {}\n   {HELP}",
            "^".repeat(59)
        ),
    );
}

#[test]
fn a_connection_template_that_runs_out_of_fuel_is_found_by_validate() {
    let text = playbook("  - fetch: {ids: \"a\"}\n").replace(
        "  backoff:",
        "  headers:\n    x-pad: \"{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}\"\n  backoff:",
    );
    let expected_line = "    x-pad: \"{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}\"";
    refused_at_load(
        &text,
        &format!(
            "error: the template cannot be rendered: the template ran too long (out of fuel)\n --> playbook.yaml:6:12\n  |\n6 | {expected_line}\n  |            {}\n  {HELP}",
            "^".repeat(78)
        ),
    );
}

/// A template that breaks only on one item's data cannot be found at load: the run stops before
/// its next step, the report says why, and the exit code is 2 (the playbook is invalid).
#[test]
fn a_template_that_runs_out_of_fuel_on_one_items_data_stops_the_run_with_exit_2() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { StatusCode::NO_CONTENT }),
    ));
    let text = playbook(
        "  - fetch: {ids: \"a b\"}\n  - retry:\n      concurrency: 1\n      request:\n        path: \"/tasks/{{ task.id | urlencode }}/retry{% for i in range(1000) %}{% for j in range(1000 if task.id == 'b' else 0) %}{% endfor %}{% endfor %}\"\n  - name: later\n    filter: {}\n",
    );
    let validated = Runbook::validate(&text).api(&api).run();
    validated.expect_code(0);
    let ran: Ran = Runbook::play(&text).api(&api).arg("--quiet").run();
    ran.expect_code(2);
    let why = "playbook.yaml:11:15: the template ran too long (out of fuel)";
    assert_eq!(
        ran.stderr,
        format!("error: the playbook is invalid: a template cannot be rendered: {why}\n")
    );
    let report = ran.report();
    assert_eq!(
        report["aborted"],
        format!(
            "step later: not run: the playbook is invalid: a template cannot be rendered: {why}"
        )
    );
    assert_eq!(
        ran.outcomes(),
        crate::outcomes(&[("a", "retried"), ("b", "failed")])
    );
    assert_eq!(
        ran.item("b")["message"],
        "cannot build the request: the template ran too long (out of fuel)"
    );
}
