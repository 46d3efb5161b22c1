//! `runbook providers`: the adapters, their environment variables and default retryable statuses.

use crate::providers;

/// `runbook providers`: the adapters, their variables and default retryable statuses.
pub fn providers_text() -> String {
    let mut out = String::new();
    for p in providers::all() {
        out.push_str(&format!("{:<10} {}\n", p.name(), p.summary()));
        for v in p.env_vars() {
            let req = if v.required { "required" } else { "optional" };
            out.push_str(&format!("    {:<26} {req}: {}\n", v.name, v.help));
        }
        if !p.default_retryable().is_empty() {
            out.push_str(&format!(
                "    retries by default: {}\n",
                p.default_retryable().join(", ")
            ));
        }
    }
    out
}
