//! Property tests of provider answers: retry answers are classified and fetch answers read (Link
//! headers, id lists) without a panic, and a huge answer is described in a short message.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::client::{Exchange, Request, Response};
use crate::jsonpath::{JsonPath, Predicate};
use crate::playbook::compile::{BodyRulePlan, ItemRulesPlan, OutcomePlan};
use crate::playbook::model::Outcome;
use crate::providers::Verdict;
use crate::secrets::Redactor;

use super::{config, json_value};

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
            Err(stop) => {
                let m = match stop {
                    crate::engine::StepStop::Failed(m) => m,
                    crate::engine::StepStop::Abort(a) => a.to_string(),
                };
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
