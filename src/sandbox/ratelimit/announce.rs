//! How a sandbox announces its request limit in answer headers (`--rate-limit-headers`).
//!
//! - `ietf`: the structured fields of the IETF draft (draft-ietf-httpapi-ratelimit-headers-11,
//!   sections 3 and 4): `RateLimit-Policy: "default";q=LIMIT;w=1` (the quota and its window in
//!   seconds) and `RateLimit: "default";r=REMAINING;t=SECONDS` (the quota left and the seconds
//!   within which no more than it may be used).
//! - `x`: the common `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`, the
//!   last in seconds from now (not an epoch).
//!
//! Written by hand: three integers in a fixed shape need no structured-fields crate.
//!
//! Invariant: the announced values are those of the decision the answer carries, so a client
//! that reads `remaining = 0` on an admitted answer knows the next request in that second is
//! refused. The sandbox's announcement replaces any limit header an emulation set itself
//! (PocketPaw's own `X-RateLimit-*`).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::LimitHeaders;
use super::window::{Quota, WINDOW};

/// The name of the one policy the sandbox announces.
const POLICY: &str = "default";

/// Adds the headers of `form` describing `quota` (none for [`LimitHeaders::None`]).
pub(super) fn announce(form: LimitHeaders, quota: Quota, headers: &mut HeaderMap) {
    let fields: Vec<(&'static str, String)> = match form {
        LimitHeaders::None => Vec::new(),
        LimitHeaders::Ietf => vec![
            (
                "ratelimit-policy",
                format!("\"{POLICY}\";q={};w={}", quota.limit, WINDOW.as_secs()),
            ),
            (
                "ratelimit",
                format!("\"{POLICY}\";r={};t={}", quota.remaining, quota.reset_secs),
            ),
        ],
        LimitHeaders::X => vec![
            ("x-ratelimit-limit", quota.limit.to_string()),
            ("x-ratelimit-remaining", quota.remaining.to_string()),
            ("x-ratelimit-reset", quota.reset_secs.to_string()),
        ],
    };
    for (name, value) in fields {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota {
        limit: 20,
        remaining: 7,
        reset_secs: 1,
    };

    fn announced(form: LimitHeaders) -> Vec<(String, String)> {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static("30"));
        announce(form, QUOTA, &mut headers);
        headers
            .iter()
            .map(|(name, value)| {
                let value = value.to_str().unwrap_or("<not text>").to_owned();
                (name.as_str().to_owned(), value)
            })
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn ietf_form_is_the_drafts_structured_policy_and_limit() {
        assert_eq!(
            announced(LimitHeaders::Ietf),
            pairs(&[
                ("x-ratelimit-limit", "30"),
                ("ratelimit-policy", "\"default\";q=20;w=1"),
                ("ratelimit", "\"default\";r=7;t=1"),
            ])
        );
    }

    #[test]
    fn x_form_replaces_an_emulations_own_and_counts_reset_in_seconds() {
        assert_eq!(
            announced(LimitHeaders::X),
            pairs(&[
                ("x-ratelimit-limit", "20"),
                ("x-ratelimit-remaining", "7"),
                ("x-ratelimit-reset", "1"),
            ])
        );
    }

    #[test]
    fn none_announces_nothing() {
        assert_eq!(
            announced(LimitHeaders::None),
            pairs(&[("x-ratelimit-limit", "30")])
        );
    }
}
