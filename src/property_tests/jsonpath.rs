//! Property tests of JSONPath and predicates: any path text parses or fails cleanly and queries
//! any document without a panic or a stack overflow.

use std::time::Instant;

use proptest::prelude::*;
use serde_json::json;

use crate::jsonpath::{JsonPath, Predicate};

use super::{PATIENCE, config, json_value};

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
