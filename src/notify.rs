//! Notifications: at the end of a run — also an aborted one — each report step's `notify:` request
//! is rendered over the run's summary and sent once.
//!
//! Invariants:
//! - A dry run sends no notification (it says so on stderr).
//! - A notification never changes the run's exit code: if it cannot be rendered or sent, or is
//!   answered with anything but 2xx, a warning says so (naming the URL's origin only, redacted:
//!   a webhook's path is often its credential) and the run exits as it would have.
//! - It is sent with its own client, not the run's: the provider's credentials must never go to
//!   a webhook, redirects are not followed, and the whole request is bounded by its timeout
//!   (10 s unless `timeout:` says otherwise).
//! - Nothing it prints holds a secret: every line goes through the redactor.

use serde_json::{Value, json};

use crate::playbook::compile::NotifyPlan;
use crate::playbook::compile::{Plan, StepKind};
use crate::playbook::model::NotifyWhen;
use crate::report::RunReport;
use crate::secrets::Redactor;

/// Send every notification `plan` asks for, for a run that ended with `report` and exit `code`.
/// `quiet` keeps the line saying a notification was sent off stderr; warnings are always printed.
pub async fn send_all(
    plan: &Plan,
    report: &RunReport,
    code: i32,
    redactor: &Redactor,
    quiet: bool,
) {
    let notifications = plan.steps.iter().filter_map(|s| match &s.kind {
        StepKind::Report(r) => r.notify.as_ref(),
        _ => None,
    });
    for notify in notifications {
        if notify.when == NotifyWhen::Failure && code == crate::exit::OK {
            continue;
        }
        // A dry run sends nothing that changes anything; a message in a channel is such a thing.
        if report.dry_run {
            if !quiet {
                eprintln!("dry run: the notification is not sent");
            }
            continue;
        }
        match send(plan, notify, report, code).await {
            Ok(origin) if !quiet => eprintln!("notified {}", redactor.redact(&origin)),
            Ok(_) => {}
            Err(why) => eprintln!(
                "warning: the notification was not delivered: {}; the run's exit code is unchanged",
                redactor.redact(&why)
            ),
        }
    }
}

/// The `summary` a notification's templates see.
pub fn summary(report: &RunReport, code: i32) -> Value {
    json!({
        "playbook": report.playbook,
        "provider": report.provider,
        "run_id": report.run_id,
        "dry_run": report.dry_run,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "duration_seconds": crate::report::duration_seconds(report),
        "exit_code": code,
        "ok": code == crate::exit::OK,
        "aborted": report.aborted,
        "headline": report.headline(),
        "counts": report.totals,
        "errors": report.errors.len(),
    })
}

/// Render and send one notification; `Ok` with the URL's origin when it was answered 2xx.
async fn send(
    plan: &Plan,
    notify: &NotifyPlan,
    report: &RunReport,
    code: i32,
) -> Result<String, String> {
    let run = json!({
        "id": report.run_id,
        "playbook": report.playbook,
        "started_at": report.started_at,
    });
    let summary = summary(report, code);
    let ctx =
        crate::template::context([("vars", &plan.vars), ("run", &run), ("summary", &summary)]);
    let templates = &plan.templates;
    let text = templates
        .render(&notify.url, &ctx)
        .map_err(|e| format!("its url cannot be rendered: {e}"))?;
    let url = url::Url::parse(text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| "its url is not an http or https URL".to_string())?;
    let origin = format!("{}/…", url.origin().ascii_serialization());
    let fail = |why: String| format!("{origin}: {why}");
    let mut headers = Vec::new();
    for (name, t) in &notify.headers {
        let value = templates
            .render(t, &ctx)
            .map_err(|e| fail(format!("header {name}: {e}")))?;
        headers.push((name.clone(), value));
    }
    let body = match &notify.body {
        Some(b) => Some(
            crate::engine::request::render_body(templates, b, &ctx)
                .map_err(|e| fail(format!("its body cannot be rendered: {e}")))?,
        ),
        None => None,
    };
    let client = reqwest::Client::builder()
        .timeout(notify.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(format!("cannot start the HTTP client: {e}")))?;
    let mut request = client.request(notify.method.clone(), url);
    let typed = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(body) = body {
        if !typed {
            request = request.header("content-type", "application/json");
        }
        request = request.body(body.to_string());
    }
    let answer = request.send().await.map_err(|e| {
        let why = if e.is_timeout() {
            format!("no answer within {:?}", notify.timeout)
        } else if e.is_connect() {
            "cannot connect".to_string()
        } else if e.is_builder() {
            "the request cannot be built (a header name or value is not valid)".to_string()
        } else {
            "the request failed".to_string()
        };
        fail(why)
    })?;
    let status = answer.status();
    if !status.is_success() {
        return Err(fail(format!("answered HTTP {}", status.as_u16())));
    }
    Ok(origin)
}
