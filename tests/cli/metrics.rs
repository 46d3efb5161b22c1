//! The metrics report (`-o metrics.prom`): read back with a small parser of the Prometheus text
//! exposition format and checked value by value, the last success carried over a failing run.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;

use crate::{FakeApi, Runbook, playbook};

/// Retries of `ok*` succeed; the others are refused (422).
fn api() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            if id.starts_with("ok") {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        }),
    ))
}

fn retry(ids: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"{ids}\"}}\n  - retry:\n      request: {{path: \"/tasks/{{{{ task.id }}}}/retry\"}}\n"
    ))
    .replace("name: test", "name: nightly")
}

const LABELS: &str = "playbook=\"nightly\",provider=\"http\"";

#[test]
fn metrics_give_items_by_outcome_duration_and_run_state() {
    let api = api();
    let ran = Runbook::play(&retry("ok1 ok2 bad1"))
        .api(&api)
        .report("metrics.prom")
        .run();
    ran.expect_code(1);
    let samples = parse(&read(&ran));
    let item = |outcome: &str| samples[&format!("runbook_items{{{LABELS},outcome=\"{outcome}\"}}")];
    assert_eq!(
        ["retried", "failed", "skipped", "unknown"].map(item),
        [2.0, 1.0, 0.0, 0.0]
    );
    let gauge = |name: &str| samples.get(&format!("{name}{{{LABELS}}}")).copied();
    assert_eq!(gauge("runbook_run_aborted"), Some(0.0));
    assert_eq!(gauge("runbook_exit_code"), Some(1.0));
    assert_eq!(gauge("runbook_items_selected"), Some(3.0));
    let duration = gauge("runbook_run_duration_seconds").expect("a duration");
    assert!((0.0..120.0).contains(&duration), "{duration}");
    let now = jiff::Timestamp::now().as_second() as f64;
    let last_run = gauge("runbook_last_run_timestamp_seconds").expect("a last run time");
    assert!(
        (now - 300.0..=now + 1.0).contains(&last_run),
        "{last_run} vs {now}"
    );
    assert_eq!(
        gauge("runbook_last_success_timestamp_seconds"),
        None,
        "this run failed and none succeeded before"
    );
    let names: Vec<String> = std::fs::read_dir(ran.path(""))
        .expect("the working directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        names,
        ["metrics.prom", "playbook.yaml", "report.json"],
        "written through a renamed temporary file, none left behind"
    );
}

#[test]
fn metrics_carry_the_last_success_over_a_failing_run_and_renew_it_on_success() {
    let api = api();
    let previous = format!(
        "# TYPE runbook_last_success_timestamp_seconds gauge\nrunbook_last_success_timestamp_seconds{{{LABELS}}} 1700000000.000\n"
    );
    let failing = Runbook::play(&retry("bad1"))
        .api(&api)
        .file("metrics.prom", &previous)
        .report("metrics.prom")
        .run();
    failing.expect_code(1);
    let key = format!("runbook_last_success_timestamp_seconds{{{LABELS}}}");
    assert_eq!(parse(&read(&failing)).get(&key), Some(&1_700_000_000.0));

    let succeeding = Runbook::play(&retry("ok1"))
        .api(&api)
        .file("metrics.prom", &previous)
        .report("metrics.prom")
        .run();
    succeeding.expect_code(0);
    let now = jiff::Timestamp::now().as_second() as f64;
    let renewed = parse(&read(&succeeding))[&key];
    assert!((now - 300.0..=now + 1.0).contains(&renewed), "{renewed}");

    let aborted = Runbook::play(&retry("ok1"))
        .env(
            "API_URL",
            &format!("http://127.0.0.1:{}", crate::closed_port()),
        )
        .file("metrics.prom", &previous)
        .report("metrics.prom")
        .run();
    let samples = parse(&read(&aborted));
    assert_eq!(samples.get(&key), Some(&1_700_000_000.0), "{aborted:?}");
    assert_eq!(
        samples[&format!("runbook_exit_code{{{LABELS}}}")],
        aborted.code as f64
    );
}

fn read(ran: &crate::Ran) -> String {
    std::fs::read_to_string(ran.path("metrics.prom"))
        .unwrap_or_else(|e| panic!("metrics.prom was not written ({e}):\n{ran:?}"))
}

/// Parse the text exposition format strictly enough to catch a malformed file: each family's
/// `# HELP` and `# TYPE` come once, before its samples; each sample is `name{labels} value` with
/// quoted, escaped label values and a number. Returns each sample, keyed by its name and labels
/// as written.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut described: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default().to_string();
            let entry = described.entry(name.clone()).or_default();
            assert!(!entry.0, "HELP of {name} given twice");
            entry.0 = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["gauge", "counter", "untyped"].contains(&kind),
                "type {kind}"
            );
            let entry = described.entry(name.to_string()).or_default();
            assert!(!entry.1, "TYPE of {name} given twice");
            entry.1 = true;
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "line {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().expect("the value is a number");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name {name}"
        );
        assert!(
            described.get(name).is_some_and(|d| d.1),
            "{name} has its TYPE before its samples"
        );
        if name_end < series.len() {
            check_labels(&series[name_end..]);
        }
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "{series} given twice"
        );
    }
    samples
}

/// `{a="x",b="y\"z"}`: label names, `=`, quoted values with only `\\`, `\"` and `\n` escapes.
fn check_labels(text: &str) {
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .expect("labels in braces");
    let mut rest = inner;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").expect("name=\"value\"");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (_, '\\') => {
                    let (_, e) = chars.next().expect("an escaped character");
                    assert!(matches!(e, '\\' | '"' | 'n'), "escape \\{e}");
                }
                (i, '"') => break i,
                (_, '\n') => panic!("a raw newline in a label value"),
                _ => {}
            }
        };
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}
