//! Hostile input, as property tests: the playbook loader, the template engine, JSONPath and
//! predicates, `Retry-After`, and the readers of provider answers must never panic, never hang and
//! keep their memory bounded, whatever text or JSON they are given. Each failure is an error value
//! with a message (and, for playbooks, a place within the file).
//!
//! Case counts are kept small (the whole module runs in a few seconds on two cores); the inputs are
//! built from fragments of the real languages so that they reach past the first syntax error.
//!
//! One file per thing tested: [`playbooks`] (the loader), [`templates`], [`jsonpath`] (paths and
//! predicates), [`durations`] (`Retry-After`, spans and rates), [`answers`] (provider answers),
//! [`redaction`] (secrets in any form).

mod answers;
mod durations;
mod jsonpath;
mod playbooks;
mod redaction;
mod templates;

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Value, json};

/// Longer than any one call below may take: a hang guard, not a speed requirement.
pub(super) const PATIENCE: Duration = Duration::from_secs(10);

/// A fixed seed unless PROPTEST_RNG_SEED asks for another: CI runs the same cases every time, and
/// a developer exploring sets the variable.
pub(super) fn config(cases: u32) -> ProptestConfig {
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

/// Any JSON document, a few levels deep, with the keys providers' answers use.
pub(super) fn json_value() -> impl Strategy<Value = Value> {
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
