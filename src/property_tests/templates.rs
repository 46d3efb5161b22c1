//! Property tests of the template engine: generated templates compile and render or fail with an
//! error, within the fuel and the output cap; runaway loops and deep nesting stop cleanly.

use std::sync::Arc;
use std::time::Instant;

use proptest::prelude::*;
use serde_json::json;

use crate::secrets::{EnvSource, Redactor};
use crate::template::{Templates, context};

use super::{PATIENCE, config};

pub(super) fn engine() -> Templates {
    let env = Arc::new(EnvSource::from_pairs([(
        "S".to_string(),
        "fuzz-secret-value".to_string(),
    )]));
    let now = "2026-11-23T12:00:00Z".parse().expect("a timestamp");
    Templates::new(env, Redactor::default(), now)
}

fn template_ctx() -> minijinja::Value {
    context([
        (
            "vars",
            &json!({"x": 1, "s": "text", "list": [1, 2, 3], "days": 7}),
        ),
        (
            "item",
            &json!({"id": "a/b c", "n": 3, "nested": {"deep": [1, {"k": null}]}}),
        ),
        (
            "task",
            &json!({"id": "a/b c", "status": "failed", "created_at": "2026-11-20T00:00:00Z"}),
        ),
        ("ids", &json!(["a", "b"])),
    ])
}

const TEMPLATE_PIECES: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    " ",
    "\n",
    "x",
    "vars.x",
    "vars.s",
    "vars.list",
    "item",
    "item.nested.deep",
    "task.id",
    "ids",
    "vars.nope",
    " | ",
    "tojson",
    "urlencode",
    "rfc3339",
    "timestamp",
    "timestamp_ms",
    "strftime('%Y-%m-%d %Q')",
    "join(',')",
    "default('d')",
    "upper",
    "length",
    "ago('7d')",
    "ago(vars.days ~ 'd')",
    "ago(-5)",
    "ago('forever')",
    "now()",
    "secret('S')",
    "secret('NOPE')",
    "env('S')",
    "env('NOPE', 1)",
    "(",
    ")",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "~",
    "+",
    "*",
    "/",
    "//",
    "%",
    "**",
    "9",
    "-1",
    "0",
    "1e308",
    "9223372036854775807",
    "for i in range(1000)",
    "for i in vars.list",
    "endfor",
    "if vars.x",
    "else",
    "endif",
    "macro m(n)",
    "endmacro",
    "m(n + 1)",
    "call m(1)",
    "endcall",
    "set ns = namespace(a=1)",
    "set ns.a = ns.a + 1",
    "loop.index",
    "loop.cycle",
    "raw",
    "endraw",
    "filter upper",
    "endfilter",
    "include 'x'",
    "extends 'x'",
    "block b",
    "endblock",
    "debug()",
    "range(5)",
    "dict(a=1)",
    "'é\u{0}\u{FFFF}'",
    "\\",
    "}}}}",
    "{{{{",
];

fn template_source() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(proptest::sample::select(TEMPLATE_PIECES), 0..30)
            .prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

/// Compile and render `source` with both renderers; never a panic, never a hang, never more text
/// than the engine's cap.
fn render_and_check(source: &str) -> Result<(), TestCaseError> {
    let mut t = engine();
    let ctx = template_ctx();
    let started = Instant::now();
    if let Ok(tpl) = t.compile(source) {
        let _ = t.variables(&tpl);
        if let Ok(out) = t.render(&tpl, &ctx) {
            prop_assert!(out.len() <= 4 * 1024 * 1024 + 2, "{} bytes", out.len());
        }
        let _ = t.render_value(&tpl, &ctx);
    }
    prop_assert!(
        started.elapsed() < PATIENCE,
        "{source:?} took {:?}",
        started.elapsed()
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn templates_render_or_fail_cleanly(source in template_source()) {
        render_and_check(&source)?;
        render_and_check(&format!("{{{{ {source} }}}}"))?;
        render_and_check(&format!("{{% {source} %}}x{{% endif %}}"))?;
    }
}

#[test]
fn runaway_templates_stop_with_an_error() {
    let cases = [
        // Unbounded recursion: the recursion limit.
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        // Mutual recursion through call blocks.
        "{% macro a(n) %}{% call b(n) %}{% endcall %}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(1) }}",
        // Long loops: fuel.
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set ns = namespace(n=0) %}{% for i in range(100000) %}{% for j in range(100000) %}{% set ns.n = ns.n + 1 %}{% endfor %}{% endfor %}{{ ns.n }}",
        // More than minijinja's range allows.
        "{% for i in range(1000000000) %}x{% endfor %}",
        // Repetition past minijinja's own limit.
        "{{ 'x' * 1000000000 }}",
        "{{ [1] * 1000000000 }}",
        // Large output: minijinja's fuel counts the bytes made, so these stop too.
        "{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}",
        "{% for i in range(1000) %}{{ 'x' * 50000000 }}{% endfor %}",
    ];
    for source in cases {
        let mut t = engine();
        let started = Instant::now();
        let tpl = t.compile(source).expect("the template compiles");
        let err = t
            .render(&tpl, &template_ctx())
            .expect_err("a runaway template is an error")
            .to_string();
        assert!(!err.is_empty());
        assert!(
            started.elapsed() < PATIENCE,
            "{source}: {:?}",
            started.elapsed()
        );
    }
}

/// Regression: `{{ - - - … 1 }}`, `not not …`, `1 + 1 + …` and long filter chains overflowed the
/// stack (an abort, not a panic) in minijinja's parser and compiler; `Templates::compile` now
/// refuses a tag with that many operators.
#[test]
fn deeply_nested_templates_are_an_error_not_a_stack_overflow() {
    for depth in [100, 1_000, 20_000] {
        for source in [
            format!("{{{{ {}1{} }}}}", "(".repeat(depth), ")".repeat(depth)),
            format!("{{{{ {}1{} }}}}", "[".repeat(depth), "]".repeat(depth)),
            format!("{{{{ {}1 }}}}", "-".repeat(depth)),
            format!("{{{{ {}1 }}}}", "not ".repeat(depth)),
            format!("{{{{ 1{} }}}}", " if 1 else 1".repeat(depth)),
            format!("{{{{ 1{} }}}}", " + 1".repeat(depth)),
            format!("{{{{ 'a'{} }}}}", " ~ 'a'".repeat(depth)),
            format!("{{{{ 1{} }}}}", " | upper".repeat(depth)),
            format!("{{{{ item{} }}}}", ".a".repeat(depth)),
            format!(
                "{}x{}",
                "{% if 1 %}".repeat(depth),
                "{% endif %}".repeat(depth)
            ),
            format!(
                "{}x{}",
                "{% for i in [1] %}".repeat(depth),
                "{% endfor %}".repeat(depth)
            ),
        ] {
            render_and_check(&source).expect("no panic");
        }
    }
}
