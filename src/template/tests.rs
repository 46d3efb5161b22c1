//! Unit tests of the template engine: strictness, native values, the run clock, redaction of
//! secrets, fuel and recursion, `urlencode`, and marked request paths.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::secrets::{EnvSource, Redactor};

fn engine(pairs: &[(&str, &str)]) -> (Templates, Redactor) {
    let env = EnvSource::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let redactor = Redactor::default();
    let now = "2026-11-23T12:00:00Z".parse().unwrap();
    (
        Templates::new(Arc::new(env), redactor.clone(), now),
        redactor,
    )
}

/// Regression (issue 7, case 5): `ago('18446744073709551615s1s')` panicked while parsing the
/// span; a literal is now refused when the template is compiled (so by `validate`), anything
/// else when it is rendered.
#[test]
fn ago_out_of_range_is_an_error_at_compile_or_render_never_a_panic() {
    let (mut t, _) = engine(&[]);
    let refused = "ago(): the duration `18446744073709551615s1s` is out of range: the longest duration runbook takes is 36500d (100 years)";
    assert_eq!(
        t.compile("{{ ago('18446744073709551615s1s') }}")
            .err()
            .as_deref(),
        Some(refused)
    );
    assert_eq!(
        t.compile("x {% if ago( \"18446744073709551615s1s\" ) %}y{% endif %}")
            .err()
            .as_deref(),
        Some(refused)
    );
    // A `}}` inside a string does not end the tag before the call.
    assert_eq!(
        t.compile("{{ '}}' ~ ago('18446744073709551615s1s') }}")
            .err()
            .as_deref(),
        Some(refused)
    );
    assert!(t.compile("ago('18446744073709551615s1s') is text").is_ok());
    assert!(
        t.compile("{{ chicago('18446744073709551615s1s') }}")
            .is_ok()
    );
    let ctx = context([(
        "vars",
        &json!({"since": "18446744073709551615s1s", "n": i64::MAX}),
    )]);
    let tpl = t.compile("{{ ago(vars.since) }}").unwrap();
    let err = t.render(&tpl, &ctx).unwrap_err().to_string();
    assert!(err.contains(refused), "{err}");
    let tpl = t.compile("{{ ago(vars.n) }}").unwrap();
    let err = t.render(&tpl, &ctx).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid operation: ago(): 9223372036854775807s is out of range: the longest duration runbook takes is 36500d (100 years)"
    );
    let tpl = t.compile("{{ ago('36500d') }}").unwrap();
    assert_eq!(t.render(&tpl, &ctx).unwrap(), "1926-12-18T12:00:00Z");
}

#[test]
fn strict_undefined_is_an_error() {
    let (mut t, _) = engine(&[]);
    let tpl = t.compile("{{ vars.agnet_id }}").unwrap();
    let ctx = context([("vars", &json!({"agent_id": "a"}))]);
    let err = t.render(&tpl, &ctx).unwrap_err();
    assert!(err.to_string().contains("undefined"), "{err}");
    assert!(matches!(err, RenderError::Data { .. }), "{err:?}");
    assert!(!err.is_broken());
    assert!(t.variables(&tpl).contains("vars.agnet_id"));
}

#[test]
fn single_expression_renders_native_values() {
    let (mut t, _) = engine(&[]);
    let tpl = t.compile("{{ ids }}").unwrap();
    let ctx = context([("ids", &json!(["a", "b"]))]);
    assert_eq!(t.render_value(&tpl, &ctx).unwrap(), json!(["a", "b"]));
    let mixed = t.compile("id-{{ ids[0] }}").unwrap();
    assert_eq!(t.render_value(&mixed, &ctx).unwrap(), json!("id-a"));
}

#[test]
fn time_helpers_are_relative_to_the_run_clock() {
    let (mut t, _) = engine(&[]);
    let tpl = t
        .compile("{{ ago('7d') }}|{{ now() }}|{{ now() | timestamp }}")
        .unwrap();
    assert_eq!(
        t.render(&tpl, &context([])).unwrap(),
        "2026-11-16T12:00:00Z|2026-11-23T12:00:00Z|1795435200"
    );
    let tpl = t.compile("{{ ago(vars.days ~ 'd') }}").unwrap();
    assert_eq!(
        t.render(&tpl, &context([("vars", &json!({"days": 1}))]))
            .unwrap(),
        "2026-11-22T12:00:00Z"
    );
}

#[test]
fn required_refuses_null_and_empty_values_with_the_reason() {
    let (mut t, _) = engine(&[]);
    let tpl = t
        .compile("/p/{{ required(item.project_id, 'no project') }}")
        .unwrap();
    let ok = context([("item", &json!({"project_id": "p1"}))]);
    assert_eq!(t.render(&tpl, &ok).unwrap(), "/p/p1");
    for missing in [json!({"project_id": null}), json!({"project_id": ""})] {
        let err = t.render(&tpl, &context([("item", &missing)])).unwrap_err();
        assert!(err.to_string().contains("no project"), "{err}");
    }
}

#[test]
fn env_values_of_credential_names_are_redacted_and_others_are_not() {
    let (mut t, redactor) = engine(&[
        ("API_TOKEN", "tok-env-7f3a9c1d"),
        ("SMTP_PASS", "pass-env-2b7c"),
        ("REGION", "eu-west-1-region"),
    ]);
    let tpl = t
        .compile("{{ env('API_TOKEN') }} {{ env('SMTP_PASS') }} {{ env('REGION') }}")
        .unwrap();
    let out = t.render(&tpl, &context([])).unwrap();
    assert_eq!(out, "tok-env-7f3a9c1d pass-env-2b7c eu-west-1-region");
    assert_eq!(
        redactor.redact(&out),
        "<redacted> <redacted> eu-west-1-region"
    );
}

#[test]
fn secrets_are_registered_and_missing_ones_named() {
    let (mut t, redactor) = engine(&[("TOKEN", "hunter2-canary")]);
    let tpl = t.compile("Bearer {{ secret('TOKEN') }}").unwrap();
    let out = t.render(&tpl, &context([])).unwrap();
    assert_eq!(redactor.redact(&out), "Bearer <redacted>");
    let missing = t.compile("{{ secret('NOPE') }}").unwrap();
    assert!(
        t.render(&missing, &context([]))
            .unwrap_err()
            .to_string()
            .contains("NOPE")
    );
}

#[test]
fn runaway_loops_run_out_of_fuel() {
    let (mut t, _) = engine(&[]);
    let tpl = t
        .compile(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        )
        .unwrap();
    let err = t.render(&tpl, &context([])).unwrap_err();
    assert!(matches!(err, RenderError::Broken { .. }), "{err:?}");
    assert!(err.is_broken());
}

#[test]
fn urlencode_keeps_only_unreserved_characters() {
    let (mut t, _) = engine(&[]);
    let tpl = t
        .compile("{{ '../a/b?c=1#d%e f~._-\\é' | urlencode }}|{{ {'k/': 'x&y', 'n': none} | urlencode }}|{{ 7 | urlencode }}|{{ none | urlencode }}")
        .unwrap();
    assert_eq!(
        t.render(&tpl, &context([])).unwrap(),
        "..%2Fa%2Fb%3Fc%3D1%23d%25e%20f~._-%5C%C3%A9|k%2F=x%26y|7|"
    );
}

/// Compile `source` as a request path; render it with `task.id` = `id`.
fn path(source: &str, id: &str) -> (Vec<PathPiece>, Vec<PathExpression>) {
    let (mut t, _) = engine(&[]);
    let plain = t.compile(source).unwrap();
    let (tpl, expressions) = t.path_template(&plain).unwrap();
    let ctx = context([
        ("task", &json!({"id": id})),
        ("vars", &json!({"prefix": "/api/v2"})),
    ]);
    let pieces = t.render_path(&tpl, Scope::Ctx(&ctx)).unwrap();
    if tpl.reads_only_task_id() {
        assert_eq!(t.render_path(&tpl, Scope::TaskId(id)).unwrap(), pieces);
    }
    (pieces, expressions)
}

/// Only text around `{{ task.id | urlencode }}` (spaces aside) is rendered from the id alone;
/// anything else minijinja renders over the whole context.
#[test]
fn only_paths_of_text_and_encoded_task_ids_are_rendered_from_the_id_alone() {
    let (mut t, _) = engine(&[]);
    let mut from_id = |source: &str| {
        let plain = t.compile(source).unwrap();
        t.path_template(&plain).unwrap().0.reads_only_task_id()
    };
    for yes in [
        "/tasks/{{ task.id | urlencode }}/retry",
        "/tasks/{{task.id|urlencode}}",
        "{{ task.id | urlencode }}",
        "https://h/a/{{ task.id | urlencode }}/b/{{ task.id | urlencode }}?x=1",
        "/plain/path",
    ] {
        assert!(from_id(yes), "{yes}");
    }
    for no in [
        "/tasks/{{ task.id }}/retry",
        "/tasks/{{- task.id | urlencode -}}/retry",
        "/tasks/{{ item.id | urlencode }}",
        "/tasks/{{ task.id | urlencode }}/{{ vars.x }}",
        "/tasks/{{ task.id | urlencode | upper }}",
        "/t/{{ task.id | urlencode }}{# c #}",
        "/t/{{ task.id | urlencode }}\n",
        "/t/{% if true %}x{% endif %}{{ task.id | urlencode }}",
    ] {
        assert!(!from_id(no), "{no}");
    }
}

/// From the id alone, the pieces are minijinja's for every kind of id: reserved characters,
/// non-ASCII, the path marks themselves, dots, nothing.
#[test]
fn a_path_from_the_id_alone_is_the_path_minijinja_renders() {
    for id in [
        "t-1",
        "",
        ".",
        "..",
        "a/b",
        "../../admin",
        "a b?c#d%e",
        "é☃",
        "\u{E000}x\u{E001}",
        "~._-",
    ] {
        // `path` compares the two renderings.
        let (pieces, _) = path(
            "/v1/{{ task.id | urlencode }}/r/{{ task.id|urlencode }}",
            id,
        );
        assert_eq!(pieces.len(), 4, "{id:?}: {pieces:?}");
    }
}

#[test]
fn a_path_template_marks_item_values_and_not_vars() {
    use PathPiece::{Fixed, Item};
    let (pieces, expressions) = path(
        "{{ vars.prefix }}/tasks/{{- task.id | urlencode -}} /{{ task.id }}?q={{ task.id }}{# c #}",
        "a/b",
    );
    assert_eq!(
        pieces,
        [
            Fixed("/api/v2/tasks/".into()),
            Item("a%2Fb".into()),
            Fixed("/".into()),
            Item("a/b".into()),
            Fixed("?q=".into()),
            Item("a/b".into()),
        ]
    );
    let seen: Vec<(&str, bool, bool)> = expressions
        .iter()
        .map(|e| (e.source.as_str(), e.encoded, e.in_path))
        .collect();
    assert_eq!(
        seen,
        [
            ("task.id | urlencode", true, true),
            ("task.id", false, true),
            ("task.id", false, false),
        ]
    );
}

#[test]
fn a_path_template_marks_loop_and_set_variables_too() {
    use PathPiece::{Fixed, Item};
    let (pieces, expressions) = path(
        "/t/{% set x = task.id %}{{ x }}/{% for p in ['a'] %}{{ p ~ '}}' }}{% endfor %}",
        "i",
    );
    assert_eq!(
        pieces,
        [
            Fixed("/t/".into()),
            Item("i".into()),
            Fixed("/".into()),
            Item("a}}".into())
        ]
    );
    assert_eq!(expressions.len(), 2);
}

#[test]
fn a_raw_block_is_refused_in_a_path() {
    let (mut t, _) = engine(&[]);
    let plain = t.compile("/t/{% raw %}{{ x }}{% endraw %}").unwrap();
    assert_eq!(
        t.path_template(&plain).unwrap_err(),
        "a request path or URL cannot hold a {% raw %} block"
    );
}

#[test]
fn filters_urlencode_and_tojson_exist() {
    let (mut t, _) = engine(&[]);
    let tpl = t
        .compile("{{ 'a b&c' | urlencode }} {{ {'k': 1} | tojson }}")
        .unwrap();
    assert_eq!(
        t.render(&tpl, &context([])).unwrap(),
        "a%20b%26c {\"k\": 1}"
    );
}

/// Regression: running out of fuel or past the recursion limit failed only the item at hand
/// (exit 1); it shows the template broken, and is remembered with its place for the run.
#[test]
fn fuel_and_recursion_make_a_template_broken_and_data_errors_do_not() {
    let (mut t, _) = engine(&[]);
    let ctx = context([("vars", &json!({}))]);
    let recursion = t
        .compile("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")
        .unwrap()
        .located("p.yaml:3:9".into());
    assert_eq!(
        t.trial(&recursion, &ctx),
        Trial::Broken("invalid operation: recursion limit exceeded".into())
    );
    assert_eq!(t.broken(), None, "a trial records nothing");
    let fuel = t
        .compile("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")
        .unwrap();
    assert_eq!(
        t.trial(&fuel, &ctx),
        Trial::Broken("the template ran too long (out of fuel)".into())
    );
    let undefined = t.compile("{{ item.id }}").unwrap();
    assert_eq!(t.trial(&undefined, &ctx), Trial::Unresolved);
    let missing = t.compile("{{ secret('NOT_SET') }}").unwrap();
    assert_eq!(t.trial(&missing, &ctx), Trial::Unresolved);
    assert!(t.render(&undefined, &ctx).is_err());
    assert_eq!(t.broken(), None, "an undefined value is the data's fault");
    assert!(t.render(&recursion, &ctx).is_err());
    assert!(t.render(&fuel, &ctx).is_err());
    assert_eq!(
        t.broken().as_deref(),
        Some("p.yaml:3:9: invalid operation: recursion limit exceeded"),
        "the first broken template is kept, with its place"
    );
}
