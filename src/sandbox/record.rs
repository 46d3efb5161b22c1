//! The recording middleware wrapped around every emulated API: it journals each request, injects
//! faults, and notes the Retry-After windows the sandbox announces. With a request limit
//! (`ratelimit/`), a request beyond it is refused here before any fault or handler.
//!
//! Invariants:
//! - Every request under an API prefix is journaled exactly once, even when it is faulted or its
//!   body is too large; the control endpoints under `/_sandbox` never pass through here.
//! - The body is read here, once, with a size cap, so handlers get plain bytes and never fail on
//!   a body extractor (whose rejections would not be JSON).
//! - Injected latency (`latency_ms`) holds back every answer, faults included, only after the
//!   request is journaled with its status and its state change applied: a client that gives up
//!   during the delay leaves its retry carried out but unanswered. A Retry-After window opens when
//!   the answer leaves, so requests sent during the delay never count as violations.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::api::EmulatedApi;
use super::faults;
use super::state::{RecordedRequest, Shared};

/// Request bodies above this size are refused with 413.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// State of one API's middleware: which API it journals for.
#[derive(Clone)]
pub(crate) struct ApiContext {
    pub(crate) api: Arc<dyn EmulatedApi>,
    pub(crate) shared: Arc<Shared>,
}

/// Journals the request, then answers it with a fault or by running the emulation.
pub(crate) async fn record(
    State(context): State<ApiContext>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_BODY_BYTES).await;
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let shared = &context.shared;
    let (index, fault) = shared.begin_request(RecordedRequest {
        api: context.api.name().to_owned(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body: bytes
            .as_ref()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default(),
        status: 0,
        fault: false,
        at_ms: 0,
    });

    let Ok(bytes) = bytes else {
        let body = json!({"error": "payload_too_large", "message": "request body over 1 MiB"});
        shared.finish_request(index, StatusCode::PAYLOAD_TOO_LARGE.as_u16(), false);
        hold_back(shared).await;
        return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response();
    };

    // The request limit comes first, like a provider's gateway: a refused request draws no fault.
    let admission = shared
        .limiter
        .as_ref()
        .map(|limiter| limiter.admit(context.api.name()));
    let refusal = admission
        .as_ref()
        .and_then(|admission| admission.refusal(context.api.as_ref(), &parts.headers));
    let fault = fault.filter(|_| refusal.is_none());
    let mut response = match (refusal, fault) {
        (Some(refusal), _) => refusal,
        (None, Some(fault)) => faults::respond(
            context.api.as_ref(),
            fault,
            &parts.headers,
            shared.config.retry_after_secs,
        ),
        (None, None) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };

    if let Some(admission) = &admission {
        admission.announce(response.headers_mut());
    }
    shared.finish_request(index, response.status().as_u16(), fault.is_some());
    hold_back(shared).await;
    if let Some(wait_ms) = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(faults::retry_after_ms)
    {
        let until_ms = shared
            .arrived_ms(index)
            .saturating_add(shared.config.latency_ms)
            .saturating_add(wait_ms);
        shared.open_window(context.api.name(), index, until_ms);
    }
    response
}

/// Waits out the injected latency, if any.
async fn hold_back(shared: &Shared) {
    if shared.config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(shared.config.latency_ms)).await;
    }
}
