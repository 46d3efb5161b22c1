//! GeeLark's endpoints: authentication (bearer token or key-mode signature), the envelope every
//! handled request gets, and the batch answers of restart and cancel.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::Task;
use super::{API_KEY, APP_ID, Geelark, HISTORY_WINDOW_SECS, MAX_IDS, TOKEN};
use crate::sandbox::reply;
use crate::sandbox::state::lock;

/// The answer envelope; GeeLark always answers HTTP 200 once it has parsed the request.
pub(super) struct Envelope {
    trace_id: String,
    code: u32,
    msg: &'static str,
    data: Value,
}

impl Envelope {
    pub(super) fn fail(trace_id: &str, code: u32, msg: &'static str) -> Envelope {
        Envelope {
            trace_id: trace_id.to_owned(),
            code,
            msg,
            data: Value::Null,
        }
    }

    fn ok(trace_id: &str, data: Value) -> Envelope {
        Envelope {
            trace_id: trace_id.to_owned(),
            code: 0,
            msg: "success",
            data,
        }
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        reply::json(
            StatusCode::OK,
            json!({"traceId": self.trace_id, "code": self.code, "msg": self.msg, "data": self.data}),
        )
    }
}

/// The key-mode signature GeeLark expects.
pub(crate) fn signature(
    app_id: &str,
    trace_id: &str,
    ts: &str,
    nonce: &str,
    api_key: &str,
) -> String {
    let digest = Sha256::digest(format!("{app_id}{trace_id}{ts}{nonce}{api_key}"));
    hex::encode_upper(digest)
}

/// Checks auth and the optional rate limit, and parses the body; `Ok` holds the trace id and the
/// body (an object).
fn admit(
    api: &Geelark,
    endpoint: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Value), Envelope> {
    let trace_id = reply::header(headers, "traceid").unwrap_or_default().trim();
    if trace_id.is_empty() {
        return Err(Envelope::fail("", 40002, "traceId header is empty"));
    }
    let signature_failed = || Envelope::fail(trace_id, 40003, "signature verification failed");
    if headers.contains_key("authorization") {
        if reply::bearer(headers) != Some(TOKEN) {
            return Err(signature_failed());
        }
    } else {
        let field = |name: &str| reply::header(headers, name).unwrap_or_default();
        let (app_id, ts, nonce, sign) =
            (field("appid"), field("ts"), field("nonce"), field("sign"));
        let expected_nonce: String = trace_id.chars().take(6).collect();
        let valid = app_id == APP_ID
            && !ts.is_empty()
            && ts.bytes().all(|byte| byte.is_ascii_digit())
            && nonce == expected_nonce
            && sign == signature(app_id, trace_id, ts, nonce, API_KEY);
        if !valid {
            return Err(signature_failed());
        }
    }
    let minute = api.shared.clock.now_secs().div_euclid(60);
    if !lock(&api.store).count_call(endpoint, minute) {
        return Err(Envelope::fail(trace_id, 40007, "too many requests"));
    }
    match reply::json_body(body, json!({})) {
        Ok(value) if value.is_object() => Ok((trace_id.to_owned(), value)),
        Ok(_) => Err(Envelope::fail(
            trace_id,
            40004,
            "parameter validation failed",
        )),
        Err(_) => Err(Envelope::fail(trace_id, 40001, "failed to read body")),
    }
}

/// The `ids` array of a body: 1 to 100 strings (numbers are accepted and stringified).
fn ids_of(body: &Value, trace_id: &str) -> Result<Vec<String>, Envelope> {
    let invalid = || Envelope::fail(trace_id, 40004, "parameter validation failed");
    let ids = body
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(invalid)?;
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(invalid());
    }
    ids.iter()
        .map(|id| match id {
            Value::String(id) => Ok(id.clone()),
            Value::Number(id) => Ok(id.to_string()),
            _ => Err(invalid()),
        })
        .collect()
}

pub(super) fn history_records(
    api: &Geelark,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(api, "historyRecords", headers, body)?;
    let invalid = || Envelope::fail(&trace_id, 40004, "parameter validation failed");
    let size = match body.get("size") {
        None | Some(Value::Null) => 10,
        Some(size) => size
            .as_u64()
            .filter(|size| (1..=MAX_IDS as u64).contains(size))
            .ok_or_else(invalid)?,
    };
    let ids = match body.get("ids") {
        None | Some(Value::Null) => None,
        Some(_) => Some(ids_of(&body, &trace_id)?),
    };
    let last_id = match body.get("lastId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.is_empty() => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Number(id)) => Some(id.to_string()),
        Some(_) => return Err(invalid()),
    };
    let since = api.shared.clock.now_secs() - HISTORY_WINDOW_SECS;
    let store = lock(&api.store);
    let in_window: Vec<&Task> = store
        .tasks
        .iter()
        .filter(|task| task.schedule_at >= since)
        .filter(|task| ids.as_ref().is_none_or(|ids| ids.contains(&task.id)))
        .collect();
    let start = match last_id {
        None => 0,
        Some(last_id) => {
            let position = in_window.iter().position(|task| task.id == last_id);
            position
                .map(|position| position + 1)
                .ok_or_else(|| Envelope::fail(&trace_id, 40008, "invalid pagination"))?
        }
    };
    let items: Vec<Value> = in_window
        .iter()
        .skip(start)
        .take(usize::try_from(size).unwrap_or(MAX_IDS))
        .map(|task| task.to_json())
        .collect();
    Ok(Envelope::ok(
        &trace_id,
        json!({"total": in_window.len(), "items": items}),
    ))
}

pub(super) fn query_tasks(
    api: &Geelark,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(api, "query", headers, body)?;
    let ids = ids_of(&body, &trace_id)?;
    let mut store = lock(&api.store);
    store.read(&ids, api.shared.settle_rule());
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| store.tasks.iter().find(|task| &task.id == id))
        .map(|task| {
            let mut value = task.to_json();
            value["shareLink"] = json!("");
            value
        })
        .collect();
    Ok(Envelope::ok(
        &trace_id,
        json!({"total": items.len(), "items": items}),
    ))
}

pub(super) fn task_detail(
    api: &Geelark,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(api, "detail", headers, body)?;
    let id = match body.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => {
            return Err(Envelope::fail(
                &trace_id,
                40004,
                "parameter validation failed",
            ));
        }
    };
    let mut store = lock(&api.store);
    store.read(std::slice::from_ref(&id), api.shared.settle_rule());
    let task = store
        .tasks
        .iter()
        .find(|task| task.id == id)
        .ok_or_else(|| Envelope::fail(&trace_id, 40005, "resource does not exist"))?;
    let mut value = task.to_json();
    value["resultImages"] = json!([]);
    value["logs"] = json!([format!(
        "task {} finished with status {}",
        task.id, task.status
    )]);
    value["searchAfter"] = json!([]);
    value["logContinue"] = json!(false);
    Ok(Envelope::ok(&trace_id, value))
}

/// Applies `action` to each id and answers with GeeLark's batch envelope.
fn batch(
    trace_id: &str,
    ids: &[String],
    mut action: impl FnMut(&str) -> Result<(), (u32, &'static str)>,
) -> Envelope {
    let fail_details: Vec<Value> = ids
        .iter()
        .filter_map(|id| {
            action(id)
                .err()
                .map(|(code, msg)| json!({"id": id, "code": code.to_string(), "msg": msg}))
        })
        .collect();
    let failed = fail_details.len();
    let (code, msg) = match failed {
        0 => (0, "success"),
        n if n == ids.len() => (40009, "process all failure"),
        _ => (40006, "partial success"),
    };
    Envelope {
        trace_id: trace_id.to_owned(),
        code,
        msg,
        data: json!({
            "totalAmount": ids.len(),
            "successAmount": ids.len() - failed,
            "failAmount": failed,
            "failDetails": fail_details,
        }),
    }
}

pub(super) fn restart_tasks(
    api: &Geelark,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(api, "restart", headers, body)?;
    let ids = ids_of(&body, &trace_id)?;
    let mut store = lock(&api.store);
    Ok(batch(&trace_id, &ids, |id| store.restart(id)))
}

pub(super) fn cancel_tasks(
    api: &Geelark,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Envelope, Envelope> {
    let (trace_id, body) = admit(api, "cancel", headers, body)?;
    let ids = ids_of(&body, &trace_id)?;
    let mut store = lock(&api.store);
    Ok(batch(&trace_id, &ids, |id| store.cancel(id)))
}
