//! The adapters' reading of their providers' documented answers. Each test compiles a tiny playbook
//! for one provider, so that the adapter's defaults are what is used, takes its retry step's outcome
//! rules, and classifies the exact answers that `shared/providers.md` and the providers' own
//! documents show, read first by the adapter's `inspect` as the HTTP client does.
//!
//! Helpers and the defaults shared by every adapter here; one file per provider beside it.

mod beam;
mod credentials;
mod deepwork;
mod geelark;
mod herodotus;
mod id_paths;
mod skyvern;

use std::sync::Arc;

use serde_json::Value;

use super::{Provider, find};
use crate::client::{Exchange, Response};
use crate::diagnostic::SourceFile;
use crate::engine::outcome::{Classified, classify};
use crate::playbook::compile::{Plan, RetryPlan, StepKind, compile};
use crate::playbook::load::parse;
use crate::report::ItemOutcome;
use crate::secrets::{EnvSource, Redactor};
use crate::template::Templates;

/// Compile a playbook of `provider` with `steps` (YAML under `steps:`) and optional `options`.
pub(super) fn try_plan(provider: &str, options: &str, steps: &str) -> Result<Plan, String> {
    let text = format!(
        "name: t\nprovider: {provider}\nconnection:\n  options: {{{options}}}\nsteps:\n{steps}"
    );
    let file = Arc::new(SourceFile {
        path: "t.yaml".into(),
        text,
    });
    let playbook = parse(&file).map_err(|d| d.to_string())?;
    let adapter = find(provider).ok_or("no such provider")?;
    let templates = Templates::new(
        Arc::new(EnvSource::from_pairs([])),
        Redactor::default(),
        jiff::Timestamp::now(),
    );
    compile(&file, playbook, adapter, &[], templates).map_err(|diags| {
        diags
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// The usual three steps, all from the adapter's defaults.
pub(super) const STEPS: &str = "  - fetch: {}\n  - filter: {}\n  - retry: {}\n";

/// Herodotus lists nothing: its ids come from the playbook, each read with the adapter's get.
pub(super) const HERODOTUS_STEPS: &str =
    "  - fetch: {ids: \"a b\", enrich: {}}\n  - filter: {}\n  - retry: {}\n";

pub(super) fn plan(provider: &str) -> Plan {
    let steps = if provider == "herodotus" {
        HERODOTUS_STEPS
    } else {
        STEPS
    };
    try_plan(provider, "", steps).unwrap_or_else(|e| panic!("{provider}: {e}"))
}

pub(super) fn retry_step(plan: &Plan) -> &RetryPlan {
    plan.steps
        .iter()
        .find_map(|s| match &s.kind {
            StepKind::Retry(r) => Some(r),
            _ => None,
        })
        .expect("a retry step")
}

/// The exchange the HTTP client would hand over for one answer: the body parsed, the adapter's
/// verdict on it.
pub(super) fn exchange(provider: &dyn Provider, status: u16, body: &str) -> Exchange {
    let json: Option<Value> = serde_json::from_str(body).ok();
    Exchange {
        verdict: provider.inspect(status, json.as_ref()),
        response: Some(Response {
            status,
            headers: reqwest::header::HeaderMap::new(),
            text: body.to_string(),
            json,
        }),
        attempts: 1,
        error: None,
        ambiguous: false,
    }
}

/// Classify `body` answered with `status` for `ids` under `provider`'s default rules.
pub(super) fn answer(
    provider: &str,
    status: u16,
    body: &str,
    ids: &[&str],
) -> Result<Vec<Classified>, String> {
    let plan = plan(provider);
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    classify(
        &exchange(plan.provider.as_ref(), status, body),
        &retry_step(&plan).outcome,
        &ids,
        &Redactor::default(),
    )
}

/// The single item's outcome and message.
pub(super) fn one(provider: &str, status: u16, body: &str) -> (ItemOutcome, Option<String>) {
    let all = answer(provider, status, body, &["t1"]).unwrap_or_else(|e| panic!("aborted: {e}"));
    assert_eq!(all.len(), 1);
    (all[0].outcome, all[0].message.clone())
}

/// The run aborts, with this reason.
pub(super) fn aborts(provider: &str, status: u16, body: &str) -> String {
    match answer(provider, status, body, &["t1"]) {
        Err(reason) => reason,
        Ok(r) => panic!("{provider} {status} {body} did not abort: {r:?}"),
    }
}

pub(super) fn message_of(m: &Option<String>) -> &str {
    m.as_deref().unwrap_or_default()
}

#[test]
fn each_adapters_defaults_make_a_whole_playbook() {
    for provider in ["beam", "deepwork", "herodotus", "geelark", "skyvern"] {
        let plan = plan(provider);
        let kinds: Vec<&str> = plan.steps.iter().map(|s| s.kind.label()).collect();
        assert_eq!(kinds, ["fetch", "filter", "retry"], "{provider}");
        assert!(plan.connection.base_url.is_some(), "{provider} has a host");
        let StepKind::Filter(filter) = &plan.steps[1].kind else {
            panic!("a filter")
        };
        let defaults: Vec<String> = plan
            .provider
            .default_retryable()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            filter.status_in.as_ref(),
            Some(&defaults),
            "{provider}: a filter naming no status keeps the adapter's retryable ones"
        );
    }
}

#[test]
fn the_generic_adapter_has_no_defaults() {
    let err = try_plan("http", "", STEPS)
        .err()
        .expect("http needs a request");
    assert!(err.contains("no `request`"), "{err}");
}

#[test]
fn beam_workspace_and_auth_options_change_the_defaults() {
    let header_names = |options: &str| -> Vec<String> {
        let plan = try_plan("beam", options, STEPS).unwrap_or_else(|e| panic!("{e}"));
        plan.connection
            .headers
            .iter()
            .map(|(n, t)| format!("{n}={}", t.source()))
            .collect()
    };
    let bid = header_names("");
    assert!(
        bid.iter()
            .any(|h| h.contains("x-api-key=") && h.contains("BEAM_API_KEY')"))
    );
    assert!(
        bid.iter()
            .any(|h| h.contains("current-workspace-id=") && h.contains("BEAM_WORKSPACE_ID'"))
    );
    let prod = header_names("workspace: prod, auth: bearer");
    assert!(
        prod.iter()
            .any(|h| h.starts_with("Authorization=Bearer") && h.contains("BEAM_API_KEY_PROD"))
    );
    assert!(prod.iter().any(|h| h.contains("BEAM_WORKSPACE_ID_PROD")));
    assert!(!prod.iter().any(|h| h.starts_with("x-api-key")));
    let err = try_plan("beam", "workspace: staging", STEPS)
        .err()
        .expect("unknown workspace");
    assert!(err.contains("use bid or prod"), "{err}");
}

#[test]
fn skyvern_guards_statuses_and_others_do_not() {
    for provider in ["beam", "deepwork", "herodotus", "geelark"] {
        assert_eq!(retry_step(&plan(provider)).only_status, None, "{provider}");
    }
    assert_eq!(
        retry_step(&plan("skyvern")).only_status,
        Some(vec!["failed".to_string(), "timed_out".to_string()]),
        "Skyvern would retry completed runs too"
    );
}

#[test]
fn rate_limits_are_transient_for_every_adapter() {
    for provider in ["beam", "deepwork", "herodotus", "geelark", "skyvern"] {
        let plan = plan(provider);
        let backoff = &retry_step(&plan).backoff;
        for status in [429, 502, 503, 504] {
            assert!(backoff.is_transient(status), "{provider} {status}");
        }
        assert!(!backoff.is_transient(400) && !backoff.is_transient(404));
    }
}
