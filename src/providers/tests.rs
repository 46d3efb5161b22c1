//! The adapters' reading of their providers' documented answers. Each test compiles a tiny playbook
//! for one provider, so that the adapter's defaults are what is used, takes its retry step's outcome
//! rules, and classifies the exact answers that `shared/providers.md` and the providers' own
//! documents show, read first by the adapter's `inspect` as the HTTP client does.

use std::sync::Arc;

use serde_json::{Value, json};

use super::geelark::GeeLark;
use super::{OutgoingRequest, Provider, Verdict, find};
use crate::diagnostic::SourceFile;
use crate::engine::outcome::{Classified, classify};
use crate::http::{Exchange, Response};
use crate::playbook::compile::{Plan, RetryPlan, StepKind, compile};
use crate::playbook::load::parse;
use crate::report::ItemOutcome;
use crate::secrets::{EnvSource, Redactor};
use crate::template::{Templates, context};

/// Compile a playbook of `provider` with `steps` (YAML under `steps:`) and optional `options`.
fn try_plan(provider: &str, options: &str, steps: &str) -> Result<Plan, String> {
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
const STEPS: &str = "  - fetch: {}\n  - filter: {}\n  - retry: {}\n";

/// Herodotus lists nothing: its ids come from the playbook, each read with the adapter's get.
const HERODOTUS_STEPS: &str =
    "  - fetch: {ids: \"a b\", enrich: {}}\n  - filter: {}\n  - retry: {}\n";

fn plan(provider: &str) -> Plan {
    let steps = if provider == "herodotus" {
        HERODOTUS_STEPS
    } else {
        STEPS
    };
    try_plan(provider, "", steps).unwrap_or_else(|e| panic!("{provider}: {e}"))
}

fn retry_step(plan: &Plan) -> &RetryPlan {
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
fn exchange(provider: &dyn Provider, status: u16, body: &str) -> Exchange {
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
fn answer(
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
fn one(provider: &str, status: u16, body: &str) -> (ItemOutcome, Option<String>) {
    let all = answer(provider, status, body, &["t1"]).unwrap_or_else(|e| panic!("aborted: {e}"));
    assert_eq!(all.len(), 1);
    (all[0].outcome, all[0].message.clone())
}

/// The run aborts, with this reason.
fn aborts(provider: &str, status: u16, body: &str) -> String {
    match answer(provider, status, body, &["t1"]) {
        Err(reason) => reason,
        Ok(r) => panic!("{provider} {status} {body} did not abort: {r:?}"),
    }
}

fn message_of(m: &Option<String>) -> &str {
    m.as_deref().unwrap_or_default()
}

// ---- defaults compile --------------------------------------------------------------------------

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

// ---- Beam --------------------------------------------------------------------------------------

#[test]
fn beam_201_with_an_empty_body_is_retried() {
    assert_eq!(one("beam", 201, ""), (ItemOutcome::Retried, None));
}

#[test]
fn beam_404_nestjs_body_is_failed_with_its_message() {
    let (outcome, message) = one(
        "beam",
        404,
        r#"{"statusCode":404,"message":"Task with id 455269b0-4d8d-4071-a8a0-6b07450462aa not found","error":"Not Found"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(message_of(&message).contains("HTTP 404"), "{message:?}");
    assert!(message_of(&message).contains("not found"), "{message:?}");
}

#[test]
fn beam_401_aborts() {
    let reason = aborts(
        "beam",
        401,
        r#"{"statusCode":401,"message":"Unauthorized","error":"Unauthorized"}"#,
    );
    assert!(reason.contains("401"), "{reason}");
}

// ---- Deep Work ---------------------------------------------------------------------------------

#[test]
fn deepwork_200_success_body_is_retried() {
    let body = r#"{"success": true, "task": {"id": "task-3", "title": "Implement user authentication", "status": "assigned", "retry_count": 2, "max_retries": 1, "error_message": null}, "progress": {"total": 8, "completed": 4, "in_progress": 1, "percent": 50}}"#;
    assert_eq!(one("deepwork", 200, body), (ItemOutcome::Retried, None));
}

#[test]
fn deepwork_400_not_blocked_is_skipped_with_the_detail() {
    let (outcome, message) = one(
        "deepwork",
        400,
        r#"{"detail": "Can only retry tasks with status 'blocked', got 'done'"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Skipped);
    assert!(message_of(&message).contains("got 'done'"), "{message:?}");
}

#[test]
fn deepwork_404_task_not_found_is_failed() {
    let (outcome, message) = one("deepwork", 404, r#"{"detail":"Task not found"}"#);
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(
        message_of(&message).contains("Task not found"),
        "{message:?}"
    );
}

#[test]
fn deepwork_400_other_project_is_failed() {
    let (outcome, message) = one(
        "deepwork",
        400,
        r#"{"detail":"Task does not belong to this project"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(
        message_of(&message).contains("does not belong to this project"),
        "{message:?}"
    );
}

#[test]
fn deepwork_401_aborts() {
    let reason = aborts("deepwork", 401, r#"{"detail":"Unauthorized"}"#);
    assert!(reason.contains("Unauthorized"), "{reason}");
}

/// PocketPaw saves the reset before it dispatches: its 500 is ambiguous, read back through the
/// task's `retry_count`; FastAPI's own 404 means the retry route is missing (0.4.4), the API's
/// "Task not found" does not; the list is declared capped at 100.
#[test]
fn deepwork_declares_its_ambiguous_500_missing_route_and_cap() {
    let plan = plan("deepwork");
    let retry = retry_step(&plan);
    assert_eq!(retry.outcome.ambiguous, [500]);
    assert_eq!(
        retry.counter.as_ref().map(|p| p.source()),
        Some("$.retry_count")
    );
    let [route] = retry.outcome.missing_route.as_slice() else {
        panic!("one missing-route rule");
    };
    assert_eq!(route.status, [404]);
    assert!(route.when.matches(&json!({"detail": "Not Found"})));
    assert!(!route.when.matches(&json!({"detail": "Task not found"})));
    assert!(route.hint.as_deref().is_some_and(|h| h.contains("0.4.4")));
    let cap = plan.steps.iter().find_map(|s| match &s.kind {
        StepKind::Fetch(f) => match &f.source {
            crate::playbook::compile::FetchSource::Http { listing, .. } => Some(listing.cap),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(cap, Some(Some(100)));
}

/// A playbook's own `outcome` keeps what the adapter knows of ambiguous and missing-route
/// answers unless it says otherwise; a fetch naming its own route takes no cap from the adapter.
#[test]
fn deepwork_playbook_outcome_keeps_the_adapters_ambiguous_and_missing_route() {
    let steps = "  - fetch: {request: {path: /elsewhere}}
  - filter: {}
  - retry: {outcome: {status: {409: skipped}}}
";
    let plan = try_plan("deepwork", "", steps).unwrap_or_else(|e| panic!("{e}"));
    let retry = retry_step(&plan);
    assert_eq!(retry.outcome.ambiguous, [500]);
    assert_eq!(retry.outcome.missing_route.len(), 1);
    let steps = "  - fetch: {}
  - filter: {}
  - retry: {outcome: {ambiguous: [], missing_route: []}}
";
    let plan = try_plan("deepwork", "", steps).unwrap_or_else(|e| panic!("{e}"));
    let retry = retry_step(&plan);
    assert!(retry.outcome.ambiguous.is_empty());
    assert!(retry.outcome.missing_route.is_empty());
    let plan = try_plan(
        "deepwork",
        "",
        "  - fetch: {request: {path: /elsewhere}}
  - filter: {}
  - retry: {}
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let caps: Vec<Option<u64>> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Fetch(f) => match &f.source {
                crate::playbook::compile::FetchSource::Http { listing, .. } => Some(listing.cap),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(caps, [None]);
}

// ---- Herodotus ---------------------------------------------------------------------------------

#[test]
fn herodotus_200_accepted_is_retried_with_a_note_on_what_re_runs() {
    let body = r#"{"message":"Task has been queued for retry","status":"accepted","uuid":"01JPJ03YJT1A93D6NF56G4GVEQ"}"#;
    assert_eq!(one("herodotus", 200, body), (ItemOutcome::Retried, None));
    let plan = plan("herodotus");
    let note = retry_step(&plan).note.as_ref().expect("a note");
    let render = |status: &str| {
        let task = json!({"id": "01JPJ03YJT1A93D6NF56G4GVEQ", "status": status});
        let response: Value = serde_json::from_str(body).expect("JSON");
        let (vars, steps) = (json!({}), json!({}));
        let ctx = context([
            ("task", &task),
            ("item", &task),
            ("response", &response),
            ("vars", &vars),
            ("steps", &steps),
        ]);
        plan.templates.render(note, &ctx).expect("the note renders")
    };
    assert_eq!(
        render("TaskDecommitmentFailed"),
        "only the decommitment re-runs"
    );
    assert_eq!(
        render("TraceGenFailed"),
        "the whole pipeline re-runs from Received"
    );
}

#[test]
fn herodotus_404_is_failed() {
    let (outcome, message) = one(
        "herodotus",
        404,
        r#"{"error":"Task not found","uuid":"01JPJ03YJT1A93D6NF56G4GVEQ"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(
        message_of(&message).contains("Task not found"),
        "{message:?}"
    );
}

#[test]
fn herodotus_400_cannot_retry_decommitment_is_failed_with_that_reason() {
    let (outcome, message) = one(
        "herodotus",
        400,
        r#"{"error":"Cannot retry decommitment","details":"Task results are missing. Cannot retry decommitment without results."}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(
        message_of(&message).contains("Cannot retry decommitment"),
        "{message:?}"
    );
}

#[test]
fn herodotus_401_aborts() {
    let reason = aborts(
        "herodotus",
        401,
        r#"{"error":"Missing Herodotus Cloud X-API-KEY header"}"#,
    );
    assert!(reason.contains("X-API-KEY"), "{reason}");
}

// ---- GeeLark -----------------------------------------------------------------------------------

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
    assert!(err.contains("GEELARK_TOKEN"), "{err}");
}

// ---- Skyvern -----------------------------------------------------------------------------------

#[test]
fn skyvern_200_new_run_is_retried_with_its_new_id() {
    let body = r#"{"run_id": "wr_486305187432193510", "status": "created", "created_at": "2025-01-01T00:00:00Z", "modified_at": "2025-01-01T00:00:00Z", "run_type": "workflow_run", "output": null, "failure_reason": null, "run_request": {"workflow_id": "wpid_123", "parameters": {}}}"#;
    assert_eq!(one("skyvern", 200, body), (ItemOutcome::Retried, None));
    let plan = plan("skyvern");
    let new_id = retry_step(&plan).new_id.as_ref().expect("a new_id path");
    let json: Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(
        new_id.first_text(&json).as_deref(),
        Some("wr_486305187432193510")
    );
}

#[test]
fn skyvern_400_not_terminal_is_skipped() {
    let (outcome, message) = one(
        "skyvern",
        400,
        r#"{"detail":"Only terminal workflow runs can be retried"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Skipped);
    assert!(
        message_of(&message).contains("Only terminal"),
        "{message:?}"
    );
}

#[test]
fn skyvern_other_400_is_failed() {
    let (outcome, _) = one(
        "skyvern",
        400,
        r#"{"detail":"Block-scoped workflow runs cannot be retried with this endpoint"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
}

#[test]
fn skyvern_404_is_failed() {
    let (outcome, message) = one(
        "skyvern",
        404,
        r#"{"detail":"Workflow run not found wr_123"}"#,
    );
    assert_eq!(outcome, ItemOutcome::Failed);
    assert!(message_of(&message).contains("not found"), "{message:?}");
}

#[test]
fn skyvern_403_invalid_credentials_aborts() {
    let reason = aborts("skyvern", 403, r#"{"detail":"Invalid credentials"}"#);
    assert!(reason.contains("Invalid credentials"), "{reason}");
}

/// Skyvern lists runs newest first with no date filter: its adapter says so, and paging stops at the
/// reading filter's `since`, unless that filter looks at another time of its own.
#[test]
fn skyvern_listing_is_newest_first_and_stops_at_the_filters_since() {
    use crate::playbook::compile::FetchSource;
    let stop_before = |steps: &str| {
        let plan = try_plan("skyvern", "", steps).expect("a plan");
        let StepKind::Fetch(fetch) = &plan.steps[0].kind else {
            panic!("a fetch first")
        };
        let FetchSource::Http { listing, .. } = &fetch.source else {
            panic!("a listing")
        };
        let Some(p) = &listing.paginate else {
            panic!("a paged listing")
        };
        assert_eq!(
            p.newest_first.as_ref().map(|t| t.source().to_string()),
            Some("$.created_at".to_string())
        );
        p.stop_before.map(|s| s.0)
    };
    assert_eq!(
        stop_before("  - fetch: {}\n  - filter: {since: 3d}\n  - retry: {}\n"),
        Some(std::time::Duration::from_secs(3 * 24 * 3600))
    );
    assert_eq!(
        stop_before("  - fetch: {}\n  - filter: {since: 3d, time: \"{{ item.modified_at }}\"}\n"),
        None
    );
    assert_eq!(
        stop_before("  - fetch: {stop_before: 1d}\n  - filter: {since: 3d}\n"),
        Some(std::time::Duration::from_secs(24 * 3600)),
        "the fetch's own stop_before wins"
    );
    assert_eq!(
        stop_before(
            "  - name: all\n    fetch: {}\n  - filter: {since: 3d}\n  - retry: {input: all}\n"
        ),
        None,
        "another step reads the whole listing"
    );
}

// ---- credentials -------------------------------------------------------------------------------

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
    adapter.check_credentials(&env(set), &options(opts))
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

// ---- ids in paths --------------------------------------------------------------------------------

/// Every request of `provider`'s defaults that names one item (enrich, retry, verify), each with
/// its method and path as sent for an item whose id and project id are `id`.
fn item_requests(provider: &str, id: &str) -> Vec<(String, Result<String, String>)> {
    use crate::engine::request::render;
    use crate::playbook::compile::{FetchSource, RetryMode};
    let steps = "  - fetch: {ids: \"x\", enrich: {}}\n  - retry: {}\n  - verify: {}\n";
    let plan = try_plan(provider, "", steps).unwrap_or_else(|e| panic!("{provider}: {e}"));
    let item = json!({"id": id, "project_id": id, "status": "failed"});
    let task = json!({"id": id, "status": "failed", "new_id": null});
    let ctx = context([("item", &item), ("task", &task), ("ids", &json!([id]))]);
    let mut requests = Vec::new();
    for step in &plan.steps {
        let request = match &step.kind {
            StepKind::Fetch(f) => {
                assert!(matches!(f.source, FetchSource::Ids(_)));
                &f.enrich.as_ref().expect("an enrich request").request
            }
            StepKind::Retry(r) => match &r.mode {
                RetryMode::PerItem(request) | RetryMode::Batch { request, .. } => request,
            },
            StepKind::Verify(v) => &v.read.request,
            _ => continue,
        };
        let sent = render(&plan.templates, request, &ctx, Some("http://h:1"), &[])
            .map(|r| format!("{} {}", r.method, r.url.path()));
        requests.push((step.kind.label().to_string(), sent));
    }
    requests
}

/// Regression (issue 7, case 2): a Skyvern run id or a Deep Work task or project id of
/// `../../admin/x` was POSTed to `/admin/x`, with the key.
#[test]
fn an_id_of_dot_dot_slash_stays_one_segment_in_every_adapters_paths() {
    let e = "..%2F..%2Fadmin%2Fx";
    let expected: [(&str, [&str; 3]); 5] = [
        (
            "beam",
            [
                &format!("GET /agent-tasks/{e}"),
                "POST /agent-tasks/retry",
                &format!("GET /agent-tasks/{e}"),
            ],
        ),
        (
            "deepwork",
            [
                &format!("GET /api/mission-control/tasks/{e}"),
                &format!("POST /api/deep-work/projects/{e}/tasks/{e}/retry"),
                &format!("GET /api/mission-control/tasks/{e}"),
            ],
        ),
        (
            "herodotus",
            [
                &format!("GET /tasks/{e}/status"),
                &format!("POST /tasks/{e}/retry"),
                &format!("GET /tasks/{e}/status"),
            ],
        ),
        (
            "skyvern",
            [
                &format!("GET /v1/runs/{e}"),
                &format!("POST /v1/agents/runs/{e}/retry"),
                &format!("GET /v1/runs/{e}"),
            ],
        ),
        (
            "geelark",
            [
                "POST /open/v1/task/query",
                "POST /open/v1/task/restart",
                "POST /open/v1/task/query",
            ],
        ),
    ];
    for (provider, paths) in expected {
        let sent: Vec<(String, Result<String, String>)> = item_requests(provider, "../../admin/x");
        let want: Vec<(String, Result<String, String>)> = ["fetch", "retry", "verify"]
            .into_iter()
            .zip(paths)
            .map(|(step, path)| (step.to_string(), Ok(path.to_string())))
            .collect();
        assert_eq!(sent, want, "{provider}");
    }
}

#[test]
fn a_dot_dot_id_is_refused_by_every_adapter_that_puts_ids_in_paths() {
    for provider in ["beam", "deepwork", "herodotus", "skyvern"] {
        for (step, sent) in item_requests(provider, "..") {
            let in_path = !(provider == "beam" && step == "retry");
            match sent {
                Err(e) if in_path => assert!(
                    e.ends_with("a segment would be `..`; nothing was sent"),
                    "{provider} {step}: {e}"
                ),
                Ok(path) if !in_path => assert_eq!(path, "POST /agent-tasks/retry"),
                other => panic!("{provider} {step}: {other:?}"),
            }
        }
    }
}
