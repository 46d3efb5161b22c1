//! GeeLark's documented answers, per id inside a 200 envelope, and its request signing and
//! token mode.

use serde_json::{Value, json};

use super::{STEPS, answer, message_of, try_plan};
use crate::engine::outcome::Classified;
use crate::providers::geelark::GeeLark;
use crate::providers::{OutgoingRequest, Provider, Verdict};
use crate::report::ItemOutcome;
use crate::secrets::EnvSource;

const A: &str = "574376043897425896";
const B: &str = "574376043897425897";
const C: &str = "574376043897425898";
const D: &str = "574376043897425899";
const E: &str = "574376043897425900";

fn geelark(body: Value, ids: &[&str]) -> Result<Vec<Classified>, String> {
    answer("geelark", 200, &body.to_string(), ids)
}

fn outcomes(results: &[Classified]) -> Vec<ItemOutcome> {
    results.iter().map(|r| r.outcome).collect()
}

#[test]
fn geelark_code_0_restarts_every_id() {
    let body = json!({"traceId": "db6094ab-3797-4186-84d5-b0b58eebad56", "code": 0, "msg": "success",
        "data": {"totalAmount": 2, "successAmount": 2, "failAmount": 0, "failDetails": []}});
    let results = geelark(body, &[A, B]).expect("no abort");
    assert_eq!(outcomes(&results), [ItemOutcome::Retried; 2]);
}

/// The documents show `failDetails[].code` as a string although typed integer; both are read.
#[test]
fn geelark_partial_success_reads_each_id_with_codes_as_strings_or_numbers() {
    for as_string in [true, false] {
        let code = |c: u32| {
            if as_string {
                json!(c.to_string())
            } else {
                json!(c)
            }
        };
        let body = json!({"traceId": "t", "code": 40006, "msg": "partial success",
        "data": {"totalAmount": 5, "successAmount": 1, "failAmount": 4, "failDetails": [
            {"id": B, "code": code(48001), "msg": "Task status does not allow retry"},
            {"id": C, "code": code(48000), "msg": "Task retry limit reached"},
            {"id": D, "code": code(48002), "msg": "Task does not exist"},
            {"id": E, "code": code(40005), "msg": "Environment has been deleted"},
        ]}});
        let results = geelark(body, &[A, B, C, D, E]).expect("no abort");
        assert_eq!(
            outcomes(&results),
            [
                ItemOutcome::Retried,
                ItemOutcome::Skipped,
                ItemOutcome::Failed,
                ItemOutcome::Failed,
                ItemOutcome::Failed
            ],
            "codes as strings: {as_string}"
        );
        assert_eq!(results[0].message, None);
        assert_eq!(
            message_of(&results[1].message),
            "48001: Task status does not allow retry"
        );
        assert_eq!(
            message_of(&results[2].message),
            "48000: Task retry limit reached"
        );
        assert_eq!(
            message_of(&results[3].message),
            "48002: Task does not exist"
        );
        assert_eq!(
            message_of(&results[4].message),
            "40005: Environment has been deleted"
        );
    }
}

#[test]
fn geelark_batch_failure_40009_reads_each_id() {
    let body = json!({"traceId": "t", "code": 40009, "msg": "process all failure",
    "data": {"totalAmount": 2, "successAmount": 0, "failAmount": 2, "failDetails": [
        {"id": A, "code": 48003, "msg": "Task resource has expired"},
        {"id": B, "code": "48001", "msg": "Task status does not allow retry"},
    ]}});
    let results = geelark(body, &[A, B]).expect("no abort");
    assert_eq!(
        outcomes(&results),
        [ItemOutcome::Failed, ItemOutcome::Skipped]
    );
    assert_eq!(
        message_of(&results[0].message),
        "48003: Task resource has expired"
    );
}

#[test]
fn geelark_an_unknown_per_id_code_fails_that_id_and_an_unmentioned_id_was_restarted() {
    let body = json!({"traceId": "t", "code": 40006, "msg": "partial success",
    "data": {"totalAmount": 2, "successAmount": 1, "failAmount": 1, "failDetails": [
        {"id": A, "code": 49999, "msg": "something new"},
    ]}});
    let results = geelark(body, &[A, B]).expect("no abort");
    assert_eq!(
        outcomes(&results),
        [ItemOutcome::Failed, ItemOutcome::Retried]
    );
    assert_eq!(message_of(&results[0].message), "49999: something new");
}

#[test]
fn geelark_40000_without_data_fails_every_id() {
    let body = json!({"traceId": "t", "code": 40000, "msg": "unknown error"});
    let results = geelark(body, &[A, B]).expect("no abort");
    assert_eq!(outcomes(&results), [ItemOutcome::Failed; 2]);
    assert!(
        message_of(&results[0].message).contains("40000"),
        "{:?}",
        results[0].message
    );
}

#[test]
fn geelark_40007_is_transient_and_fails_only_when_it_lasts() {
    let body = json!({"traceId": "t", "code": 40007, "msg": "too many requests"});
    assert!(matches!(
        GeeLark.inspect(200, Some(&body)),
        Verdict::Transient { .. }
    ));
    let results = geelark(body, &[A]).expect("no abort");
    assert_eq!(outcomes(&results), [ItemOutcome::Failed]);
    assert!(message_of(&results[0].message).contains("40007"));
}

#[test]
fn geelark_signature_and_trace_id_refusals_abort() {
    for code in [40002, 40003, 40012] {
        let body = json!({"traceId": "t", "code": code, "msg": "signature verification failed"});
        let reason = geelark(body, &[A]).expect_err("aborts");
        assert!(reason.contains(&code.to_string()), "{reason}");
    }
}

#[test]
fn geelark_envelope_code_as_a_string_is_read_too() {
    let body = json!({"traceId": "t", "code": "40003", "msg": "signature verification failed"});
    assert!(matches!(
        GeeLark.inspect(200, Some(&body)),
        Verdict::AuthFailed { .. }
    ));
}

fn headers_of(r: &OutgoingRequest) -> Vec<&str> {
    r.headers.iter().map(|(n, _)| n.as_str()).collect()
}

fn request() -> OutgoingRequest {
    OutgoingRequest {
        method: "POST".into(),
        url: "http://127.0.0.1/open/v1/task/restart".into(),
        headers: vec![],
        body: Some(json!({"ids": [A]})),
    }
}

#[test]
fn geelark_token_mode_sends_the_bearer_token_and_a_fresh_trace_id() {
    let env = EnvSource::from_pairs([("GEELARK_TOKEN".to_string(), "tok".to_string())]);
    let mut first = request();
    GeeLark.prepare(&mut first, &env).expect("prepared");
    let get = |r: &OutgoingRequest, name: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get(&first, "Authorization").as_deref(), Some("Bearer tok"));
    let trace = get(&first, "traceId").expect("a trace id");
    assert!(uuid::Uuid::parse_str(&trace).is_ok(), "{trace}");
    for key_header in ["appId", "ts", "nonce", "sign"] {
        assert!(!headers_of(&first).contains(&key_header), "{key_header}");
    }
    let mut again = first.clone();
    GeeLark.prepare(&mut again, &env).expect("prepared");
    assert_ne!(get(&again, "traceId"), Some(trace));
    assert_eq!(
        headers_of(&again)
            .iter()
            .filter(|n| n.eq_ignore_ascii_case("traceid") || n.eq_ignore_ascii_case("authorization"))
            .count(),
        2,
        "one trace id and one token per attempt: {:?}",
        again.headers
    );
}

/// `connection.options.auth: token` puts the token in the playbook's headers; `prepare` then does
/// not sign even when a key pair is set too.
#[test]
fn geelark_token_option_wins_over_a_key_pair() {
    let plan = try_plan("geelark", "auth: token", STEPS).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = plan
        .connection
        .headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["Authorization"]);
    let env = EnvSource::from_pairs([
        ("GEELARK_APP_ID".to_string(), "app".to_string()),
        ("GEELARK_API_KEY".to_string(), "key".to_string()),
        ("GEELARK_TOKEN".to_string(), "tok".to_string()),
    ]);
    let mut r = request();
    r.headers
        .push(("Authorization".into(), "Bearer tok".into()));
    GeeLark.prepare(&mut r, &env).expect("prepared");
    assert!(!headers_of(&r).contains(&"sign"), "{:?}", r.headers);
    assert!(headers_of(&r).contains(&"traceId"));
}

#[test]
fn geelark_token_mode_without_a_token_is_an_error() {
    let env = EnvSource::from_pairs([]);
    let err = GeeLark.prepare(&mut request(), &env).expect_err("no token");
    assert_eq!(err, crate::providers::ProviderError::TokenNotSet);
    assert!(err.to_string().contains("GEELARK_TOKEN"), "{err}");
}

/// Issue 10: GeeLark says "too many requests" inside a 200 envelope (code 40007); the adaptive
/// pace must read it as a sign to slow down, and nothing else as one.
#[test]
fn geelark_40007_is_its_sign_to_slow_down() {
    for code in [json!(40007), json!("40007")] {
        assert_eq!(
            GeeLark.throttle_sign(200, Some(&json!({"code": code, "msg": "too many"}))),
            Some("GeeLark 40007 too many requests".to_string())
        );
    }
    for (status, body) in [
        (200, json!({"code": 0, "data": {}})),
        (200, json!({"code": 40003, "msg": "sign"})),
        (500, json!({"code": 40007})),
        (200, json!([40007])),
    ] {
        assert_eq!(GeeLark.throttle_sign(status, Some(&body)), None, "{body}");
    }
    assert_eq!(GeeLark.throttle_sign(200, None), None);
}
