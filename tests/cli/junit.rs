//! The JUnit XML report (`-o report.xml`): read back with a strict XML parser (below) and checked
//! against the shape of the common JUnit schema — `testsuites` / `testsuite` / `testcase` with
//! their `tests`, `failures`, `errors`, `skipped` and `time` attributes — whatever the ids and the
//! provider's messages hold.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::json;

use crate::{FakeApi, Runbook, playbook};

/// What the provider says about a refused retry: every character XML treats specially, and
/// control characters XML 1.0 cannot carry at all.
const HOSTILE: &str = "<b>&amp; \"quoted\" 'single' ]]> \u{0}\u{1b}[31m end";

/// Retries answered by id: `ok*` 200, `busy*` 409 (skipped by rule), others 422 with [`HOSTILE`].
fn api() -> FakeApi {
    FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|Path(id): Path<String>| async move {
            let status = if id.starts_with("ok") {
                StatusCode::OK
            } else if id.starts_with("busy") {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            (status, axum::Json(json!({"message": HOSTILE}))).into_response()
        }),
    ))
}

/// A playbook retrying `ids` (a YAML double-quoted string, escapes allowed).
fn retry(ids: &str) -> String {
    playbook(&format!(
        "  - fetch: {{ids: \"{ids}\"}}\n  - name: resend\n    retry:\n      request: {{path: \"/tasks/{{{{ task.id | urlencode }}}}/retry\"}}\n      outcome: {{status: {{409: skipped}}}}\n"
    ))
    .replace("name: test", "name: nightly")
}

#[test]
fn junit_has_a_suite_per_step_a_case_per_item_and_the_schema_counts() {
    let api = api();
    let ran = Runbook::play(&retry("ok1 busy1 bad1 bad2"))
        .api(&api)
        .report("report.xml")
        .run();
    ran.expect_code(1);
    let root = parse(&read(&ran, "report.xml"));
    check_schema_shape(&root);
    assert_eq!(root.name, "testsuites");
    assert_eq!(
        ["tests", "failures", "errors", "skipped"].map(|a| root.attr(a)),
        ["4", "2", "0", "1"]
    );
    assert_eq!(root.children.len(), 1, "one step handled items: {root:#?}");
    let suite = &root.children[0];
    assert_eq!(suite.attr("name"), "resend");
    let cases: Vec<(&str, &str, Vec<&str>)> = suite
        .children
        .iter()
        .map(|c| {
            let kinds = c.children.iter().map(|k| k.name.as_str()).collect();
            (c.attr("name"), c.attr("classname"), kinds)
        })
        .collect();
    assert_eq!(
        cases,
        [
            ("ok1", "http/nightly", vec!["system-out"]),
            ("busy1", "http/nightly", vec!["skipped"]),
            ("bad1", "http/nightly", vec!["failure"]),
            ("bad2", "http/nightly", vec!["failure"]),
        ]
    );
    let failure = &suite.children[2].children[0];
    assert_eq!(failure.attr("type"), "failed");
    assert!(
        failure.text.contains("HTTP 422") && failure.text.contains("<b>&amp; \"quoted\""),
        "the provider's message, unescaped by the parser: {failure:#?}"
    );
}

#[test]
fn junit_is_well_formed_whatever_the_ids_and_messages_hold() {
    let api = api();
    // Ids with markup characters and an escape character, as a provider could return them.
    let ran = Runbook::play(&retry("bad<a&b> bad'q' bad\\\"x\\\" bad\\e[0m"))
        .api(&api)
        .report("report.xml")
        .run();
    ran.expect_code(1);
    let ids: Vec<String> = ran.item_ids();
    assert_eq!(ids.len(), 4, "{ran:?}");
    let root = parse(&read(&ran, "report.xml"));
    check_schema_shape(&root);
    let names: Vec<&str> = root.children[0]
        .children
        .iter()
        .map(|c| c.attr("name"))
        .collect();
    let expected: Vec<String> = ids
        .iter()
        .map(|id| id.replace('\u{1b}', "\\u{1b}"))
        .collect();
    assert_eq!(names, expected, "ids survive, the escape character as text");
    for case in &root.children[0].children {
        let message = case.children[0].attr("message");
        assert!(
            message.contains("\\u{0}\\u{1b}[31m end"),
            "control characters are written as text: {message:?}"
        );
    }
}

#[test]
fn junit_marks_a_dry_runs_planned_items_skipped() {
    let api = api();
    let ran = Runbook::play(&retry("ok1 ok2"))
        .api(&api)
        .arg("--dry-run")
        .report("report.xml")
        .run();
    ran.expect_code(0);
    let root = parse(&read(&ran, "report.xml"));
    check_schema_shape(&root);
    assert_eq!(
        ["tests", "failures", "skipped"].map(|a| root.attr(a)),
        ["2", "0", "2"]
    );
    let skipped = &root.children[0].children[0].children[0];
    assert_eq!(skipped.name, "skipped");
    assert!(
        skipped.attr("message").starts_with("planned"),
        "{skipped:#?}"
    );
    assert!(api.requests().is_empty(), "a dry run sends nothing");
}

#[test]
fn junit_reports_an_aborted_run_as_an_error() {
    let api = FakeApi::start(Router::new().route(
        "/tasks/{id}/retry",
        post(|| async { StatusCode::UNAUTHORIZED }),
    ));
    let ran = Runbook::play(&retry("a1"))
        .api(&api)
        .report("report.xml")
        .run();
    ran.expect_code(3);
    let root = parse(&read(&ran, "report.xml"));
    check_schema_shape(&root);
    let run = root
        .children
        .iter()
        .find(|s| s.attr("name") == "run")
        .expect("a suite for the run");
    let error = &run.children[0];
    assert_eq!(error.attr("name"), "aborted");
    assert_eq!(error.children[0].name, "error");
    assert!(root.attr("errors").parse::<u32>().is_ok_and(|n| n >= 1));
}

fn read(ran: &crate::Ran, name: &str) -> String {
    std::fs::read_to_string(ran.path(name))
        .unwrap_or_else(|e| panic!("{name} was not written ({e}):\n{ran:?}"))
}

/// The shape of the common JUnit schema (the Jenkins/Ant `junit.xsd` family): attribute sets,
/// numeric counts that add up, and only the known children of a testcase.
fn check_schema_shape(root: &Element) {
    assert_eq!(root.name, "testsuites");
    let count = |e: &Element, a: &str| -> u64 {
        e.attr(a)
            .parse()
            .unwrap_or_else(|_| panic!("{} {a}={:?} is a count", e.name, e.attr(a)))
    };
    let seconds = |e: &Element| {
        assert!(
            e.attr("time").parse::<f64>().is_ok_and(|t| t >= 0.0),
            "{} time={:?}",
            e.name,
            e.attr("time")
        )
    };
    seconds(root);
    let mut sums = [0; 4];
    for suite in &root.children {
        assert_eq!(suite.name, "testsuite");
        assert!(!suite.attr("name").is_empty());
        seconds(suite);
        assert!(suite.attr("timestamp").parse::<jiff::Timestamp>().is_ok());
        let mut found = [0; 4];
        for case in &suite.children {
            assert_eq!(case.name, "testcase");
            assert!(!case.attr("classname").is_empty());
            seconds(case);
            found[0] += 1;
            for child in &case.children {
                match child.name.as_str() {
                    "failure" => found[1] += 1,
                    "error" => found[2] += 1,
                    "skipped" => found[3] += 1,
                    "system-out" => {}
                    other => panic!("unknown testcase child <{other}>"),
                }
            }
        }
        let said = ["tests", "failures", "errors", "skipped"].map(|a| count(suite, a));
        assert_eq!(said, found, "suite {} counts its cases", suite.attr("name"));
        for (sum, n) in sums.iter_mut().zip(found) {
            *sum += n;
        }
    }
    let said = ["tests", "failures", "errors", "skipped"].map(|a| count(root, a));
    assert_eq!(said, sums, "testsuites adds up its suites");
}

/// An XML element as read: its name, attributes, child elements and text (unescaped).
#[derive(Debug)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .unwrap_or_else(|| panic!("<{}> has no {name} attribute", self.name))
    }
}

/// Parse a whole XML document strictly, failing the test on anything not well-formed: an
/// unbalanced tag, an unquoted or repeated attribute, a raw `<` or `&`, an unknown entity, or a
/// character XML 1.0 forbids. (Written for the test: no XML crate is among the dependencies.)
fn parse(text: &str) -> Element {
    for c in text.chars() {
        let allowed = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..);
        assert!(
            allowed,
            "character U+{:04X} is not allowed in XML",
            c as u32
        );
    }
    let body = text
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .expect("the XML declaration");
    let mut parser = Parser {
        rest: body.trim_start(),
    };
    let root = parser.element();
    assert!(
        parser.rest.trim().is_empty(),
        "content after the root: {:?}",
        parser.rest
    );
    root
}

struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn element(&mut self) -> Element {
        self.expect("<");
        let name = self.name();
        let mut attrs = BTreeMap::new();
        loop {
            let before = self.rest.len();
            self.rest = self.rest.trim_start();
            if let Some(r) = self.rest.strip_prefix("/>") {
                self.rest = r;
                return Element {
                    name,
                    attrs,
                    children: Vec::new(),
                    text: String::new(),
                };
            }
            if let Some(r) = self.rest.strip_prefix('>') {
                self.rest = r;
                break;
            }
            assert!(self.rest.len() < before, "no space before an attribute");
            let key = self.name();
            self.expect("=\"");
            let end = self.rest.find('"').expect("a closing quote");
            let value = unescape(&self.rest[..end]);
            self.rest = &self.rest[end + 1..];
            assert!(
                attrs.insert(key.clone(), value).is_none(),
                "attribute {key} repeated"
            );
        }
        let mut children = Vec::new();
        let mut text = String::new();
        loop {
            let end = self.rest.find('<').expect("a closing tag");
            text.push_str(&unescape(&self.rest[..end]));
            self.rest = &self.rest[end..];
            if let Some(r) = self.rest.strip_prefix("</") {
                self.rest = r;
                let closing = self.name();
                assert_eq!(closing, name, "tags nest");
                self.rest = self.rest.trim_start();
                self.expect(">");
                return Element {
                    name,
                    attrs,
                    children,
                    text,
                };
            }
            children.push(self.element());
        }
    }

    fn name(&mut self) -> String {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(self.rest.len());
        assert!(
            end > 0,
            "a name at {:?}",
            &self.rest[..self.rest.len().min(20)]
        );
        let name = self.rest[..end].to_string();
        self.rest = &self.rest[end..];
        name
    }

    fn expect(&mut self, token: &str) {
        self.rest = self.rest.strip_prefix(token).unwrap_or_else(|| {
            panic!(
                "expected {token:?} at {:?}",
                &self.rest[..self.rest.len().min(40)]
            )
        });
    }
}

/// Character data with its references resolved; a raw `<`, `>`-less markup or a stray `&` fails.
fn unescape(raw: &str) -> String {
    assert!(!raw.contains('<'), "a raw < in {raw:?}");
    let mut out = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let end = rest.find(';').expect("an entity ends with ;");
        let entity = &rest[..end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = entity
                    .strip_prefix("#x")
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| entity.strip_prefix('#').map(str::parse))
                    .unwrap_or_else(|| panic!("unknown entity &{entity};"))
                    .expect("a numeric character reference");
                let c = char::from_u32(code).expect("a character");
                assert!(
                    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..),
                    "a reference to a forbidden character &{entity};"
                );
                c
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}
