//! Herodotus's documented answers, read by its adapter's default rules.

use serde_json::{Value, json};

use super::{aborts, message_of, one, plan, retry_step};
use crate::report::ItemOutcome;
use crate::template::context;

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
