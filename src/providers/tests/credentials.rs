//! Each adapter's credential check: the variable it names when one is missing, and what each
//! mode needs to pass.

use serde_json::Value;

use crate::providers::find;
use crate::secrets::EnvSource;

/// Environment variables set for a case.
type Vars<'a> = &'a [(&'a str, &'a str)];

fn env(pairs: &[(&str, &str)]) -> EnvSource {
    EnvSource::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn options(text: &str) -> serde_json::Map<String, Value> {
    serde_json::from_str(text).expect("options JSON")
}

/// `check_credentials` with `set` in the environment: `None` when it passes, else the variable
/// its error names first among `candidates`.
fn missing(provider: &str, opts: &str, set: &[(&str, &str)]) -> Result<(), String> {
    let adapter = find(provider).expect("a provider");
    adapter
        .check_credentials(&env(set), &options(opts))
        .map_err(String::from)
}

#[test]
fn check_credentials_names_the_missing_variable() {
    let cases: &[(&str, &str, Vars, &str)] = &[
        ("beam", "{}", &[], "BEAM_API_KEY"),
        ("beam", "{}", &[("BEAM_API_KEY", "k")], "BEAM_WORKSPACE_ID"),
        (
            "beam",
            r#"{"workspace": "prod"}"#,
            &[("BEAM_API_KEY", "k"), ("BEAM_WORKSPACE_ID", "w")],
            "BEAM_API_KEY_PROD",
        ),
        (
            "beam",
            r#"{"workspace": "prod"}"#,
            &[("BEAM_API_KEY_PROD", "k")],
            "BEAM_WORKSPACE_ID_PROD",
        ),
        ("deepwork", "{}", &[], "DEEPWORK_TOKEN"),
        ("herodotus", "{}", &[], "HERODOTUS_API_KEY"),
        ("geelark", "{}", &[], "GEELARK_TOKEN"),
        ("geelark", r#"{"auth": "key"}"#, &[], "GEELARK_APP_ID"),
        (
            "geelark",
            r#"{"auth": "key"}"#,
            &[("GEELARK_APP_ID", "a")],
            "GEELARK_API_KEY",
        ),
        (
            "geelark",
            r#"{"auth": "token"}"#,
            &[("GEELARK_APP_ID", "a"), ("GEELARK_API_KEY", "k")],
            "GEELARK_TOKEN",
        ),
        ("skyvern", "{}", &[], "SKYVERN_API_KEY"),
    ];
    for (provider, opts, set, variable) in cases {
        let err = missing(provider, opts, set)
            .err()
            .unwrap_or_else(|| panic!("{provider} {opts} {set:?} passed"));
        assert!(
            err.contains(&format!("variable {variable} is not set")),
            "{provider} {opts} {set:?}: {err}"
        );
    }
}

#[test]
fn check_credentials_passes_with_what_each_mode_needs() {
    let cases: &[(&str, &str, Vars)] = &[
        (
            "beam",
            "{}",
            &[("BEAM_API_KEY", "k"), ("BEAM_WORKSPACE_ID", "w")],
        ),
        (
            "beam",
            r#"{"workspace": "prod"}"#,
            &[("BEAM_API_KEY_PROD", "k"), ("BEAM_WORKSPACE_ID_PROD", "w")],
        ),
        ("deepwork", "{}", &[("DEEPWORK_TOKEN", "t")]),
        ("herodotus", "{}", &[("HERODOTUS_API_KEY", "k")]),
        ("geelark", "{}", &[("GEELARK_TOKEN", "t")]),
        (
            "geelark",
            "{}",
            &[("GEELARK_APP_ID", "a"), ("GEELARK_API_KEY", "k")],
        ),
        ("skyvern", "{}", &[("SKYVERN_API_KEY", "k")]),
        ("http", "{}", &[]),
    ];
    for (provider, opts, set) in cases {
        assert_eq!(
            missing(provider, opts, set),
            Ok(()),
            "{provider} {opts} {set:?}"
        );
    }
}
