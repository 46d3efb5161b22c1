//! Property tests of the playbook loader: arbitrary text and bytes, mutated seed playbooks and
//! word salad load to a located diagnostic or a plan, never a panic; deep nesting and alias bombs
//! are bounded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use proptest::prelude::*;

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::playbook::compile::compile;
use crate::playbook::load::parse;
use crate::playbook::model::Playbook;
use crate::secrets::{EnvSource, Redactor};
use crate::template::Templates;

use super::{PATIENCE, config};

const SEEDS: &[&str] = &[
    include_str!("../../playbooks/http-example.yaml"),
    include_str!("../../playbooks/beam-nightly.yaml"),
    include_str!("../../playbooks/geelark-restart.yaml"),
    include_str!("../../playbooks/skyvern-failed.yaml"),
    include_str!("../../playbooks/deepwork-blocked.yaml"),
    include_str!("../../playbooks/herodotus-failed.yaml"),
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
