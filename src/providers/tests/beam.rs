//! Beam's documented answers, read by its adapter's default rules.

use super::{aborts, message_of, one};
use crate::report::ItemOutcome;

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
