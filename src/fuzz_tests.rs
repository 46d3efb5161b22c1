//! Hostile input, as property tests: the playbook loader, the template engine, JSONPath and
//! predicates, `Retry-After`, and the readers of provider answers must never panic, never hang and
//! keep their memory bounded, whatever text or JSON they are given. Each failure is an error value
//! with a message (and, for playbooks, a place within the file).
//!
//! Case counts are kept small (the whole module runs in a few seconds on two cores); the inputs are
//! built from fragments of the real languages so that they reach past the first syntax error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::http::backoff::parse_retry_after;
use crate::http::{Exchange, Request, Response};
use crate::jsonpath::{JsonPath, Predicate};
use crate::playbook::compile::{BodyRulePlan, ItemRulesPlan, OutcomePlan, compile};
use crate::playbook::load::parse;
use crate::playbook::model::{Outcome, Playbook};
use crate::providers::Verdict;
use crate::secrets::{EnvSource, Redactor};
use crate::template::{Templates, context};

/// Longer than any one call below may take: a hang guard, not a speed requirement.
const PATIENCE: Duration = Duration::from_secs(10);

/// A fixed seed unless PROPTEST_RNG_SEED asks for another: CI runs the same cases every time, and
/// a developer exploring sets the variable.
fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match default.rng_seed {
        proptest::test_runner::RngSeed::Random => {
            proptest::test_runner::RngSeed::Fixed(0x5eed_2026)
        }
        chosen => chosen,
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed,
        ..default
    }
}

// ---------------------------------------------------------------------------------------------
// (a) The playbook loader

const SEEDS: &[&str] = &[
    include_str!("../playbooks/http-example.yaml"),
    include_str!("../playbooks/beam-nightly.yaml"),
    include_str!("../playbooks/geelark-restart.yaml"),
    include_str!("../playbooks/skyvern-failed.yaml"),
    include_str!("../playbooks/deepwork-blocked.yaml"),
    include_str!("../playbooks/herodotus-failed.yaml"),
    r#"name: t
provider: http
connection:
  base_url: "{{ env('API_URL', 'http://127.0.0.1:9') }}"
  headers: {Authorization: "Bearer {{ secret('TOKEN') }}"}
  backoff: {initial: 10ms, max: 50ms, attempts: 3, on_status: [429, 503]}
vars: {since: 1d, limit: 5}
steps:
  - name: listed
    fetch:
      request: {path: /tasks, query: {status: [failed], q: "{{ vars.since }}"}}
      items: ["$.tasks[*]", "$.more[*]"]
      total: $.total
      paginate: {page: {param: page, start: 1, size_param: per_page, size: 10}, max_pages: 3}
      enrich: {request: {path: "/tasks/{{ task.id }}"}, item: $.task, merge: true}
  - filter: {status_in: [failed], where: "@.attempts < 3", since: "{{ vars.since }}", limit: "{{ vars.limit }}"}
  - retry:
      batch: {size: 5, request: {path: /retry, body: {ids: "{{ ids }}"}}}
      outcome:
        status: {409: skipped}
        body: [{when: "@.ok == false", outcome: skipped, message: $.reason}]
        items: {path: "$.results[*]", id: $.id, code: $.code, codes: {X: failed}}
  - report: {files: ["r/{{ run.playbook }}.json"]}
"#,
];

/// Keys and values that the language knows, and some it does not.
const WORDS: &[&str] = &[
    "name",
    "provider",
    "steps",
    "fetch",
    "filter",
    "retry",
    "report",
    "request",
    "path",
    "url",
    "query",
    "body",
    "items",
    "paginate",
    "cursor",
    "max_pages",
    "outcome",
    "status",
    "batch",
    "size",
    "concurrency",
    "rate",
    "backoff",
    "since",
    "limit",
    "where",
    "vars",
    "connection",
    "base_url",
    "headers",
    "task",
    "id",
    "files",
    "retyr",
    "\u{1F600}",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "&anchor",
    "*anchor",
    "!!binary",
    "|",
    ">",
    "'",
    "\"",
    "\t",
    "#",
    "---",
    "...",
    "{{ vars.nope }}",
    "{% for %}",
    "$[?(@.a",
    "$..*",
    "9999999999999999999999",
    "-1",
    "1e999",
    "5/0s",
    "0/s",
    "1w",
    "~",
    "null",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize),
    Insert(usize, usize, String, String),
    ReplaceValue(usize, String),
    Truncate(usize),
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => "[a-z_]{1,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(20).collect()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        any::<usize>().prop_map(Mutation::Swap),
        (any::<usize>(), 0usize..10, word(), word())
            .prop_map(|(at, indent, k, v)| Mutation::Insert(at, indent, k, v)),
        (any::<usize>(), word()).prop_map(|(at, v)| Mutation::ReplaceValue(at, v)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match m {
            Mutation::Delete(i) => {
                lines.remove(i % n);
            }
            Mutation::Duplicate(i) => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Mutation::Swap(i) => lines.swap(i % n, (i % n + 1) % n),
            Mutation::Insert(i, indent, k, v) => {
                lines.insert(i % (n + 1), format!("{}{k}: {v}", " ".repeat(*indent)))
            }
            Mutation::ReplaceValue(i, v) => {
                let line = &mut lines[i % n];
                if let Some(colon) = line.find(": ") {
                    line.truncate(colon + 2);
                    line.push_str(v);
                }
            }
            Mutation::Truncate(i) => {
                let mut joined = lines.join("\n");
                let mut at = i % (joined.len() + 1);
                while !joined.is_char_boundary(at) {
                    at -= 1;
                }
                joined.truncate(at);
                lines = joined.lines().map(str::to_string).collect();
            }
        }
    }
    lines.join("\n")
}

/// Load and compile `text` as `app::prepare` does, in memory. Every diagnostic about the file must
/// be located within it, and render.
fn load_and_check(text: &str) -> Result<(), TestCaseError> {
    let file = Arc::new(SourceFile {
        path: PathBuf::from("fuzz.yaml"),
        text: text.to_string(),
    });
    let started = Instant::now();
    let diags: Vec<Diagnostic> = match parse::<Playbook>(&file) {
        Err(d) => vec![d],
        Ok(playbook) => match crate::providers::find(&playbook.provider.value) {
            None => Vec::new(),
            Some(provider) => {
                let env = Arc::new(EnvSource::from_pairs([
                    ("TOKEN".to_string(), "fuzz-token".to_string()),
                    ("API_URL".to_string(), "http://127.0.0.1:9".to_string()),
                ]));
                let templates = Templates::new(env, Redactor::default(), jiff::Timestamp::now());
                match compile(&file, playbook, provider, &[], templates) {
                    Ok(_) => Vec::new(),
                    Err(diags) => {
                        prop_assert!(!diags.is_empty(), "a failed compile says why");
                        diags
                    }
                }
            }
        },
    };
    prop_assert!(
        started.elapsed() < PATIENCE,
        "loading took {:?}",
        started.elapsed()
    );
    let lines = crate::diagnostic::source_lines(text).count().max(1);
    for d in &diags {
        let rendered = d.to_string();
        prop_assert!(rendered.starts_with("error: "), "{rendered}");
        if d.file_path() == Some(file.path.as_path())
            && let Some(p) = d.position
        {
            prop_assert!(
                p.line >= 1 && p.line <= lines + 1,
                "line {} outside a file of {lines} lines: {rendered}",
                p.line
            );
            let width =
                crate::diagnostic::source_line(text, p.line).map_or(0, |l| l.chars().count());
            prop_assert!(
                p.column >= 1 && p.column <= width + 2,
                "column {} outside line {} of {width} characters: {rendered}",
                p.column,
                p.line
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn the_loader_survives_arbitrary_text(text in any::<String>()) {
        load_and_check(&text)?;
    }

    #[test]
    fn the_loader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        load_and_check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn the_loader_survives_mutated_playbooks(
        seed in 0..SEEDS.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        load_and_check(&mutate(SEEDS[seed], &mutations))?;
    }

    #[test]
    fn the_loader_survives_word_salad(words in proptest::collection::vec(word(), 0..40)) {
        load_and_check(&words.join(""))?;
        load_and_check(&words.join("\n"))?;
        load_and_check(&words.join(": "))?;
    }
}

#[test]
fn the_seed_playbooks_load() {
    for seed in SEEDS {
        let file = Arc::new(SourceFile {
            path: PathBuf::from("seed.yaml"),
            text: seed.to_string(),
        });
        if let Err(d) = parse::<Playbook>(&file) {
            panic!("{d}");
        }
    }
}

#[test]
fn deeply_nested_yaml_is_an_error_not_a_stack_overflow() {
    for depth in [200, 5_000, 50_000] {
        load_and_check(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
            .expect("flow sequences");
        load_and_check(&format!(
            "name: x\nsteps: {}1{}",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        ))
        .expect("flow maps");
        let block: String = (0..depth.min(2_000))
            .map(|i| format!("{}- \n", " ".repeat(i)))
            .collect();
        load_and_check(&block).expect("block sequences");
    }
}

#[test]
fn yaml_alias_bombs_are_bounded() {
    // The "billion laughs": nine levels of nine aliases.
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for w in names.windows(2) {
        let (prev, next) = (w[0], w[1]);
        text.push_str(&format!(
            "{next}: &{next} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    text.push_str("name: x\nprovider: http\nsteps: *j\n");
    load_and_check(&text).expect("an alias bomb is refused in bounded time and memory");
}

// ---------------------------------------------------------------------------------------------
// (b) The template engine

fn engine() -> Templates {
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
            .expect_err("a runaway template is an error");
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

// ---------------------------------------------------------------------------------------------
// (c) JSONPath and predicates

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z]{0,6}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}|id|status|tasks|data", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const PATH_PIECES: &[&str] = &[
    "$",
    "@",
    ".",
    "..",
    "*",
    "[",
    "]",
    "[*]",
    "[0]",
    "[-1]",
    "[1:3]",
    "[::-1]",
    "[?",
    "(",
    ")",
    "'",
    "\"",
    "a",
    "id",
    "tasks",
    "data",
    "status",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    "&&",
    "||",
    "!",
    "1",
    "-0",
    "1e400",
    "null",
    "true",
    "'failed'",
    "length(@)",
    "count(@.*)",
    "match(@, 'a.*')",
    "search(@.a, '[')",
    "value(@..a)",
    ",",
    " ",
    "\\u0000",
    "🦀",
];

fn path_source() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(proptest::sample::select(PATH_PIECES), 0..16)
            .prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn jsonpaths_parse_and_query_without_panic(source in path_source(), doc in json_value()) {
        let started = Instant::now();
        if let Ok(path) = JsonPath::parse(&source) {
            let _ = path.query(&doc);
            let _ = path.first_text(&doc);
        } else {
            let prefixed = format!("${source}");
            if let Ok(path) = JsonPath::parse(&prefixed) {
                let _ = path.query(&doc);
            }
        }
        prop_assert!(started.elapsed() < PATIENCE);
    }

    #[test]
    fn predicates_parse_and_match_without_panic(source in path_source(), doc in json_value()) {
        let started = Instant::now();
        if let Ok(p) = Predicate::parse(&source) {
            let _ = p.matches(&doc);
        }
        prop_assert!(started.elapsed() < PATIENCE);
    }
}

#[test]
fn deep_json_and_deep_paths_do_not_overflow_the_stack() {
    let mut doc = json!(1);
    for _ in 0..100 {
        doc = json!({"a": [doc]});
    }
    for source in ["$..*", "$..a", "$..[?(@ == 1)]", "$.a[0].a[0].a[0]"] {
        let _ = JsonPath::parse(source).expect("a path").query(&doc);
    }
    let deep = format!("$[?{}@.a{}]", "(".repeat(5_000), ")".repeat(5_000));
    let _ = JsonPath::parse(&deep);
    let _ = Predicate::parse(&deep);
    let long = format!("${}", ".a".repeat(50_000));
    let _ = JsonPath::parse(&long).map(|p| p.query(&doc));
}

// ---------------------------------------------------------------------------------------------
// (d) Retry-After

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn retry_after_never_panics(value in prop_oneof![
        any::<String>(),
        "[-+]?[0-9]{0,30}(\\.[0-9]{0,30})?([eE][-+]?[0-9]{0,4})?",
        "(Mon|Tue|Sun), [0-9]{1,2} (Jan|Feb|Dec) [0-9]{1,6} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        Just("inf".to_string()), Just("NaN".to_string()), Just("-0".to_string()),
        Just("-0.0".to_string()), Just("1e309".to_string()), Just("18446744073709551616".to_string()),
    ], offset in any::<u32>()) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(offset));
        let _ = parse_retry_after(&value, now);
        let _ = parse_retry_after(&value, SystemTime::now());
    }
}

// ---------------------------------------------------------------------------------------------
// (d') Durations and rates: parsing, and every use the engine makes of a parsed one

/// Span-like text: number-unit pairs with numbers up to 25 digits (past u64) and real and false
/// units.
fn span_source() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "([0-9]{0,25}(ms|s|sec|m|min|h|hours|d|days|w|weeks|x|)){0,4}",
        Just("18446744073709551615s1s".to_string()),
        Just("30000000000000w".to_string()),
        Just("36500d".to_string()),
        Just("36500d1ms".to_string()),
    ]
}

/// What the engine does with a span: deadlines on both clocks, `now - span`, backoff and
/// `Retry-After` against it. None of it may panic for a span that parsed.
fn use_span(span: crate::units::Span) -> Result<(), TestCaseError> {
    let d = span.0;
    prop_assert!(d <= crate::units::Span::MAX.0);
    prop_assert!(Instant::now().checked_add(d).is_some());
    let _deadline = tokio::time::Instant::now() + d;
    let back = jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|s| jiff::Timestamp::now().checked_sub(s).ok());
    prop_assert!(back.is_some(), "now - {span}");
    prop_assert_eq!(crate::units::Span::parse(&span.to_string()), Ok(span));
    let policy = crate::http::backoff::BackoffPolicy {
        initial: d,
        max: d,
        max_retry_after: d,
        ..Default::default()
    };
    for attempt in [1, 2, 31, 32, u32::MAX] {
        prop_assert!(policy.delay(attempt, 0.999_999) <= d);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn spans_never_panic_in_parsing_nor_in_use(text in span_source()) {
        if let Ok(span) = crate::units::Span::parse(&text) {
            use_span(span)?;
        }
    }

    #[test]
    fn rates_never_panic_in_parsing_nor_in_use(
        count in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), "[0-9]{0,12}", any::<String>()],
        per in span_source(),
    ) {
        if let Ok(rate) = crate::units::Rate::parse(&format!("{count}/{per}")) {
            use_span(crate::units::Span(rate.per))?;
            prop_assert!(rate.interval() <= rate.per);
            // The limiter moves its next slot by one interval per request.
            let mut slot = Instant::now();
            for _ in 0..1000 {
                slot = slot.checked_add(rate.interval()).ok_or_else(|| TestCaseError::fail("slot overflow"))?;
            }
            prop_assert_eq!(crate::units::Rate::parse(&rate.to_string()), Ok(rate));
        }
    }

    #[test]
    fn a_retry_after_either_fits_the_clock_or_exceeds_any_limit(value in prop_oneof![
        "[0-9]{1,30}",
        "[0-9]{1,30}\\.[0-9]{0,5}",
        "[0-9]\\.[0-9]{1,5}e[0-9]{1,3}",
    ]) {
        if let Some(wait) = parse_retry_after(&value, SystemTime::now()) {
            prop_assert!(
                wait > crate::units::Span::MAX.0 || Instant::now().checked_add(wait).is_some(),
                "{value}"
            );
        }
    }

    #[test]
    fn ago_never_panics(text in span_source(), secs in any::<i64>()) {
        let mut t = engine();
        let vars = json!({"text": text, "secs": secs});
        let ctx = context([("vars", &vars)]);
        for source in ["{{ ago(vars.text) }}", "{{ ago(vars.secs) }}"] {
            let tpl = t.compile(source).map_err(TestCaseError::fail)?;
            let _ = t.render(&tpl, &ctx);
        }
        let literal = format!("{{{{ ago('{}') }}}}", text.replace(['\'', '\\'], ""));
        if let Ok(tpl) = t.compile(&literal) {
            let _ = t.render(&tpl, &ctx);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (e) Provider answers: classification of retry answers, and the reading of fetch answers

fn outcome_rules() -> OutcomePlan {
    let path = |s: &str| JsonPath::parse(s).expect("a path");
    OutcomePlan {
        status: [(409, Outcome::Skipped), (404, Outcome::Failed)].into(),
        message: vec![path("$.message"), path("$.detail")],
        body: vec![BodyRulePlan {
            status: Vec::new(),
            when: Predicate::parse("@.ok == false").expect("a predicate"),
            outcome: Outcome::Skipped,
            message: Some(path("$.reason")),
        }],
        items: None,
        ambiguous: Vec::new(),
        missing_route: Vec::new(),
    }
}

fn item_rules() -> OutcomePlan {
    let path = |s: &str| JsonPath::parse(s).expect("a path");
    OutcomePlan {
        items: Some(ItemRulesPlan {
            path: path("$.results[*]"),
            id: path("$.id"),
            code: path("$.code"),
            message: path("$.message"),
            codes: [("NOPE".to_string(), Outcome::Skipped)].into(),
            otherwise: Outcome::Failed,
            unlisted: Outcome::Retried,
        }),
        ..outcome_rules()
    }
}

fn body_text() -> impl Strategy<Value = String> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        json_value().prop_map(|v| {
            let text = v.to_string();
            let cut = text.len() / 2;
            text.chars().take(cut).collect()
        }),
        Just("<!doctype html><html><body>502 Bad Gateway</body></html>".to_string()),
        Just(String::new()),
        any::<String>(),
        json_value().prop_map(|v| {
            json!({"results": [{"id": "a", "code": v}, {"id": "b"}], "ok": v}).to_string()
        }),
    ]
}

fn response(status: u16, content_type: &str, text: String) -> Response {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(v) = reqwest::header::HeaderValue::from_str(content_type) {
        headers.insert(reqwest::header::CONTENT_TYPE, v);
    }
    let json = serde_json::from_str(&text).ok();
    Response {
        status,
        headers,
        text,
        json,
    }
}

fn verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::AsIs),
        ".{0,20}".prop_map(|reason| Verdict::Transient { reason }),
        ".{0,20}".prop_map(|reason| Verdict::Failed { reason }),
        ".{0,20}".prop_map(|reason| Verdict::AuthFailed { reason }),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn answers_are_classified_without_panic(
        status in prop_oneof![100u16..600, Just(200u16), Just(401), Just(409)],
        content_type in prop_oneof![Just("application/json"), Just("text/html"), Just(""), Just("text/plain; charset=utf-8")],
        text in body_text(),
        verdict in verdict(),
        error in proptest::option::of(".{0,30}"),
        answered in any::<bool>(),
        ids in proptest::collection::vec("[a-c]", 0..4),
    ) {
        let exchange = Exchange {
            response: answered.then(|| response(status, content_type, text.clone())),
            verdict,
            attempts: 1,
            error,
            ambiguous: false,
        };
        for rules in [outcome_rules(), item_rules()] {
            match crate::engine::outcome::classify(&exchange, &rules, &ids, &Redactor::default()) {
                Ok(all) => prop_assert_eq!(all.len(), ids.len()),
                Err(reason) => prop_assert!(reason.starts_with("authentication failed")),
            }
        }
        if let Some(r) = &exchange.response {
            let described = r.describe_body(&Redactor::default());
            prop_assert!(described.chars().count() < 200, "{described}");
        }
        let request = Request {
            method: reqwest::Method::GET,
            url: url::Url::parse("http://127.0.0.1:9/tasks").expect("a url"),
            headers: Vec::new(),
            body: None,
        };
        match crate::engine::fetch::read_json(&request, &exchange, &Redactor::default()) {
            Ok(json) => {
                let r = exchange.response.as_ref();
                prop_assert!(r.is_some_and(|r| (200..300).contains(&r.status)));
                for path in ["$[*]", "$.tasks[*]", "$.data[*].tasks[*]", "$.a.b[*]"] {
                    let _ = crate::engine::fetch::check_shape(&JsonPath::parse(path).expect("a path"), json);
                }
            }
            Err(crate::engine::StepStop::Failed(m) | crate::engine::StepStop::Abort(m)) => {
                prop_assert!(m.contains("GET http://127.0.0.1:9/tasks"), "{m}");
                prop_assert!(m.len() < 1_000, "a short message: {m}");
            }
        }
    }

    #[test]
    fn link_headers_and_id_lists_never_panic(text in any::<String>(), doc in json_value()) {
        let _ = crate::engine::fetch::next_from_link_header(&text);
        let _ = crate::engine::fetch::ids_from_value(&Value::String(text));
        let _ = crate::engine::fetch::ids_from_value(&doc);
    }
}

#[test]
fn a_huge_html_answer_is_described_in_a_short_message() {
    let page = format!("<html>{}</html>", "é".repeat(2_000_000));
    let r = response(200, "text/html", page);
    assert!(r.describe_body(&Redactor::default()).len() < 200);
}

// ---------------------------------------------------------------------------------------------
// The redactor: a registered secret is gone from any text, in any of the forms it is sent in.

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_registered_secret_never_survives_redaction(
        secret in "[ -~]{8,24}",
        prefix in ".{0,20}",
        suffix in ".{0,20}",
    ) {
        use base64::Engine;
        let r = Redactor::default();
        r.register(&secret);
        let json = serde_json::to_string(&secret).unwrap_or_default();
        let forms = [
            secret.clone(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            json.trim_matches('"').to_string(),
            base64::engine::general_purpose::STANDARD.encode(&secret),
            base64::engine::general_purpose::URL_SAFE.encode(&secret),
        ];
        for form in forms {
            let out = r.redact(&format!("{prefix}{form}{suffix}"));
            prop_assert!(out.contains(crate::secrets::REDACTED), "{form:?} kept in {out:?}");
            prop_assert!(!out.contains(secret.as_str()), "{secret:?} in {out:?}");
        }
    }
}
