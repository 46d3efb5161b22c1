//! Issue 11, point 1: the committed schema is a valid Draft 2020-12 schema, and it agrees with the
//! loader: what `runbook validate` refuses for its form (a duration written `5 minutes`, a rate
//! written `fast`), an editor using the schema flags too, and what the loader accepts (templated
//! lists and counts, integer keys) the schema accepts. Checked with an independent validator, the
//! `jsonschema` crate, as an editor would apply the schema.

use crate::{Runbook, repo_path};

fn committed_schema() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo_path("schemas/playbook.schema.json"))
            .expect("schemas/playbook.schema.json"),
    )
    .expect("the schema is JSON")
}

/// The schema's complaints about `text` (YAML), each with the path into the document.
fn schema_errors(text: &str) -> Vec<String> {
    let schema = committed_schema();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let document: serde_json::Value =
        serde_saphyr::from_str(text).expect("the playbook is YAML that maps to JSON");
    validator
        .iter_errors(&document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// A playbook of the generic adapter with `extra` under its fetch step's siblings.
fn playbook_with(steps: &str) -> String {
    format!(
        "name: t\nprovider: http\nvars:\n  since: 7d\n  rate: 5/s\n  limit: 10\n  statuses: failed\nsteps:\n  - fetch: {{request: {{path: /tasks}}}}\n{steps}"
    )
}

#[test]
fn the_committed_schema_is_valid_against_its_meta_schema() {
    let schema = committed_schema();
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "the schema says its draft"
    );
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!(
            "the schema breaks its meta-schema at {}: {e}",
            e.instance_path()
        );
    }
}

#[test]
fn forms_the_loader_accepts_pass_the_schema() {
    for steps in [
        "  - filter: {status_in: \"{{ vars.statuses }}\", since: \"{{ vars.since }}\", limit: \"{{ vars.limit }}\"}\n",
        "  - filter: {status_not_in: [1, two, true], since: 1h30m, until: \" 5m \"}\n",
        "  - retry: {request: {path: /r}, rate: \"{{ vars.rate }}\", concurrency: 2, only_status: \"{{ vars.statuses }}\", outcome: {status: {409: skipped, 404: failed}}}\n",
        "  - retry: {request: {path: /r}, rate: 3/10s, budget: {max: 2, per: 1w}}\n",
    ] {
        let text = playbook_with(steps);
        assert_eq!(schema_errors(&text), Vec::<String>::new(), "{steps}");
        Runbook::validate(&text).run().expect_code(0);
    }
}

#[test]
fn forms_the_loader_refuses_fail_the_schema_too() {
    for (steps, at) in [
        ("  - filter: {since: 5 minutes}\n", "/steps/1/filter/since"),
        ("  - filter: {until: 7 d}\n", "/steps/1/filter/until"),
        (
            "  - retry: {request: {path: /r}, rate: fast}\n",
            "/steps/1/retry/rate",
        ),
        (
            "  - retry: {request: {path: /r}, rate: 0/s}\n",
            "/steps/1/retry/rate",
        ),
        (
            "  - retry: {request: {path: /r}, rate: 5/0s}\n",
            "/steps/1/retry/rate",
        ),
        (
            "  - retry: {request: {path: /r}, budget: {max: 2, per: a week}}\n",
            "/steps/1/retry/budget/per",
        ),
        ("  - filter: {limit: -1}\n", "/steps/1/filter/limit"),
        ("  - filter: {sinse: 1d}\n", "/steps/1/filter"),
    ] {
        let text = playbook_with(steps);
        let errors = schema_errors(&text);
        // A branch of `anyOf` (a step kind) is reported at the step, so any path on the way to
        // the bad value counts; the step before it passes.
        let located = |e: &String| {
            let path = e.split(": ").next().unwrap_or_default();
            path.starts_with("/steps/1") && at.starts_with(path)
        };
        assert!(
            !errors.is_empty() && errors.iter().all(located),
            "the schema should refuse {steps} at {at}: {errors:?}"
        );
        Runbook::validate(&text).run().expect_code(2);
    }
}
