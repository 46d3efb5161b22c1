//! Before and around a provider run: the README's first command, a missing credential refused
//! before any request, and `runbook providers`.

use crate::{Runbook, repo_path};

use super::{clean, credential, run, shipped, start};

/// `runbook play playbooks/beam-nightly.yaml --sandbox`, as the README says, with nothing in the
/// environment but PATH.
#[tokio::test(flavor = "multi_thread")]
async fn the_readmes_beam_command_retries_fourteen_tasks() {
    let playbook = std::fs::read_to_string(repo_path("playbooks/beam-nightly.yaml"))
        .expect("the shipped playbook");
    let runbook = Runbook::new(["play", "playbooks/beam-nightly.yaml", "--sandbox"])
        .file("playbooks/beam-nightly.yaml", &playbook)
        .report("report.json");
    let ran = run(runbook).await;
    ran.expect_code(0);
    assert_eq!(ran.total("retried"), 14, "{ran:?}");
    assert_eq!(ran.total("selected"), 14);
    assert_eq!(ran.total("failed"), 0);
    assert_eq!(ran.total("skipped"), 0);
}

/// Each shipped playbook, the variable left out, and the other credentials it would need.
const MISSING: &[(&str, &str, &str, &[&str])] = &[
    (
        "beam-nightly",
        "BEAM_BASE_URL",
        "BEAM_API_KEY",
        &["BEAM_WORKSPACE_ID"],
    ),
    (
        "beam-nightly",
        "BEAM_BASE_URL",
        "BEAM_WORKSPACE_ID",
        &["BEAM_API_KEY"],
    ),
    (
        "deepwork-blocked",
        "DEEPWORK_BASE_URL",
        "DEEPWORK_TOKEN",
        &[],
    ),
    (
        "herodotus-failed",
        "HERODOTUS_BASE_URL",
        "HERODOTUS_API_KEY",
        &[],
    ),
    ("geelark-restart", "GEELARK_BASE_URL", "GEELARK_TOKEN", &[]),
    ("skyvern-failed", "SKYVERN_BASE_URL", "SKYVERN_API_KEY", &[]),
    ("http-example", "TASKS_API_URL", "TASKS_API_TOKEN", &[]),
];

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_credential_is_named_before_any_request() {
    for (playbook, url_var, missing, others) in MISSING {
        let sandbox = start(clean()).await;
        let api = match *playbook {
            "beam-nightly" => "beam",
            "deepwork-blocked" => "deepwork",
            "herodotus-failed" => "herodotus",
            "geelark-restart" => "geelark",
            "skyvern-failed" => "skyvern",
            _ => "http",
        };
        let mut runbook = shipped(playbook).env(
            url_var,
            &sandbox.base_url(api).expect("the sandbox serves it"),
        );
        for name in *others {
            runbook = runbook.env(name, &credential(&sandbox, name));
        }
        let ran = run(runbook).await;
        assert_eq!(ran.code, 2, "{playbook} without {missing}: {ran:?}");
        assert!(
            ran.stderr.contains(missing),
            "{playbook}: the error names {missing}: {ran:?}"
        );
        let sent = sandbox.requests();
        assert!(sent.is_empty(), "{playbook} sent requests: {sent:#?}");
        sandbox.shutdown().await;
    }
}

/// GeeLark in key mode needs both halves of the key pair; with only the app id it asks for what
/// is missing rather than sending unsigned requests.
#[tokio::test(flavor = "multi_thread")]
async fn geelark_with_half_a_key_pair_sends_nothing() {
    let sandbox = start(clean()).await;
    let runbook = shipped("geelark-restart")
        .env(
            "GEELARK_BASE_URL",
            &sandbox.base_url("geelark").expect("the sandbox serves it"),
        )
        .env("GEELARK_APP_ID", &credential(&sandbox, "GEELARK_APP_ID"));
    let ran = run(runbook).await;
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("GEELARK_API_KEY") || ran.stderr.contains("GEELARK_TOKEN"),
        "{ran:?}"
    );
    assert!(sandbox.requests().is_empty());
    sandbox.shutdown().await;
}

#[test]
fn providers_lists_every_adapter_with_its_variables() {
    let ran = Runbook::new(["providers"]).run();
    ran.expect_code(0);
    let expected: &[(&str, &[&str])] = &[
        (
            "beam",
            &[
                "BEAM_API_KEY",
                "BEAM_WORKSPACE_ID",
                "BEAM_API_KEY_PROD",
                "BEAM_WORKSPACE_ID_PROD",
                "BEAM_BASE_URL",
            ],
        ),
        ("deepwork", &["DEEPWORK_TOKEN", "DEEPWORK_BASE_URL"]),
        ("herodotus", &["HERODOTUS_API_KEY", "HERODOTUS_BASE_URL"]),
        (
            "geelark",
            &[
                "GEELARK_APP_ID",
                "GEELARK_API_KEY",
                "GEELARK_TOKEN",
                "GEELARK_BASE_URL",
            ],
        ),
        ("skyvern", &["SKYVERN_API_KEY", "SKYVERN_BASE_URL"]),
        ("http", &[]),
    ];
    // Sections: a provider's line at the left margin, then its indented lines.
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in ran.stdout.lines() {
        if line.starts_with(' ') {
            let (_, lines) = sections.last_mut().expect("a provider line comes first");
            lines.push(line.trim().to_string());
        } else if let Some(name) = line.split_whitespace().next() {
            sections.push((name.to_string(), Vec::new()));
        }
    }
    let names: Vec<&str> = sections.iter().map(|(n, _)| n.as_str()).collect();
    let wanted: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, wanted, "{}", ran.stdout);
    for ((_, vars), (name, lines)) in expected.iter().zip(&sections) {
        let listed: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(listed, *vars, "{name}'s variables:\n{}", ran.stdout);
    }
}
