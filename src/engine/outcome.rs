//! How an answer to a retry request becomes each item's outcome: HTTP status rules, rules on the
//! body, per-item results inside a 200 (batch APIs), and the adapter's reading of an envelope.

use std::collections::HashMap;

use crate::client::Exchange;
use crate::jsonpath::scalar_text;
use crate::playbook::compile::OutcomePlan;
use crate::playbook::model::Outcome;
use crate::providers::Verdict;
use crate::report::ItemOutcome;
use crate::secrets::Redactor;

/// One item's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub outcome: ItemOutcome,
    pub message: Option<String>,
    /// The id of new work the retry created (Skyvern's new run).
    pub new_id: Option<String>,
}

impl Classified {
    pub fn new(outcome: ItemOutcome, message: Option<String>) -> Classified {
        Classified {
            outcome,
            message,
            new_id: None,
        }
    }
}

fn of(outcome: Outcome, message: Option<String>) -> Classified {
    Classified::new(outcome.into(), message)
}

/// Classify `exchange` for the items `ids` it concerned. `Err` means the run must stop (the
/// credentials were refused). A body quoted in a message is cut only after `redactor` ran over it.
pub fn classify(
    exchange: &Exchange,
    rules: &OutcomePlan,
    ids: &[String],
    redactor: &Redactor,
) -> Result<Vec<Classified>, String> {
    let all = |c: Classified| Ok(vec![c; ids.len()]);
    if let Verdict::AuthFailed { reason } = &exchange.verdict {
        return Err(format!("authentication failed: {reason}"));
    }
    let Some(response) = &exchange.response else {
        return all(of(
            Outcome::Failed,
            Some(exchange.error.clone().unwrap_or_else(|| "no answer".into())),
        ));
    };
    let json = response.json.as_ref();
    let message = || {
        json.and_then(|j| rules.message.iter().find_map(|p| p.first_text(j)))
            .or_else(|| {
                (!response.text.trim().is_empty()).then(|| response.describe_body(redactor))
            })
    };
    let by_body = rules.body.iter().find(|r| {
        let applies = if r.status.is_empty() {
            (200..300).contains(&response.status)
        } else {
            r.status.contains(&response.status)
        };
        applies && json.is_some_and(|j| r.when.matches(j))
    });
    if let (Some(rule), Some(j)) = (by_body, json) {
        let m = rule
            .message
            .as_ref()
            .and_then(|p| p.first_text(j))
            .or_else(message);
        let m = if (200..300).contains(&response.status) {
            m
        } else {
            m.map(|m| format!("HTTP {}: {m}", response.status))
        };
        return all(of(rule.outcome, m));
    }
    if let Some(outcome) = rules.status.get(&response.status) {
        return all(of(
            *outcome,
            message().map(|m| format!("HTTP {}: {m}", response.status)),
        ));
    }
    if matches!(response.status, 401 | 403) {
        let detail = message().map(|m| format!(": {m}")).unwrap_or_default();
        return Err(format!(
            "authentication failed: HTTP {}{detail}",
            response.status
        ));
    }
    if let Some(error) = &exchange.error {
        return all(of(Outcome::Failed, Some(error.clone())));
    }
    if let Verdict::Failed { reason } | Verdict::Transient { reason } = &exchange.verdict {
        return all(of(Outcome::Failed, Some(reason.clone())));
    }
    if !(200..300).contains(&response.status) {
        let m = message().map(|m| format!(": {m}")).unwrap_or_default();
        return all(of(
            Outcome::Failed,
            Some(format!("HTTP {}{m}", response.status)),
        ));
    }
    let Some(items) = &rules.items else {
        if json.is_none() && is_broken(response) {
            return all(of(
                Outcome::Failed,
                Some(format!(
                    "HTTP {}: expected a JSON answer, got {}",
                    response.status,
                    response.describe_body(redactor)
                )),
            ));
        }
        return all(of(Outcome::Retried, None));
    };
    let Some(j) = json else {
        return all(of(
            Outcome::Failed,
            Some(format!(
                "expected a JSON answer with per-item results at {}, got {}",
                items.path.source(),
                response.describe_body(redactor)
            )),
        ));
    };
    let mut results: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    for result in items.path.query(j) {
        if let Some(id) = items.id.first_text(result) {
            let code = items.code.first(result).and_then(scalar_text);
            let message = items.message.first_text(result);
            results.insert(id, (code, message));
        }
    }
    Ok(ids
        .iter()
        .map(|id| match results.get(id) {
            Some((None, _)) => of(items.unlisted, None),
            Some((code, message)) => {
                let outcome = code
                    .as_ref()
                    .and_then(|c| items.codes.get(c))
                    .copied()
                    .unwrap_or(items.otherwise);
                let text = match (code, message) {
                    (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                    (Some(c), None) => Some(c.clone()),
                    (None, m) => m.clone(),
                };
                of(
                    outcome,
                    if outcome == Outcome::Retried {
                        None
                    } else {
                        text
                    },
                )
            }
            None => of(items.unlisted, None),
        })
        .collect())
}

/// A 2xx answer that is not JSON but should have been: an HTML page (a sign-in page, a web app
/// answering at a wrong base URL) or JSON that does not parse (truncated). It confirms nothing, so
/// it is not a retry. An empty body (204) or plain text stays a success.
fn is_broken(response: &crate::client::Response) -> bool {
    let text = response.text.trim_start();
    let kind = response
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    !text.is_empty()
        && (kind.contains("html")
            || kind.contains("json")
            || text.starts_with('<')
            || text.starts_with('{')
            || text.starts_with('['))
}
