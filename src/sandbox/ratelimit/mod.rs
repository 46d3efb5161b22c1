//! The sandbox's request limit (`runbook sandbox --rate-limit N`): each API admits `N` requests in
//! any sliding second, like a provider's gateway, and refuses the rest in its own dialect (a 429
//! with `Retry-After`; GeeLark's HTTP 200 envelope with code 40007 and Skyvern's 429 without
//! `Retry-After`, as their real servers answer; see [`EmulatedApi::rate_limited`]). The limit can
//! be announced in answer headers (`announce.rs`) and can change at set times after start
//! ([`LimitChange`], for benchmarks of a client that must follow it).
//!
//! Every decision is tallied per API and per second since the sandbox started, admitted and
//! refused apart, so a benchmark counts throttled answers at the server
//! (`GET /_sandbox/rate-limit`, [`super::Sandbox::rate_limit_tally`]).
//!
//! Invariants:
//! - Each API (`beam` and `beam-prod` apart) has its own window; the control endpoints have none.
//! - The limit is checked before faults and handlers: a refused request reaches no emulation and
//!   draws no injected fault, and it is journaled like any other request.
//! - Time is tokio's clock, read once per request, so tests run on a paused clock.

mod announce;
mod window;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use tokio::time::Instant;

use super::api::EmulatedApi;
use super::sync::lock;
use crate::units::Span;
use window::{Verdict, Window};

/// How a sandbox limits requests: `per_second` in any sliding second per API, changed over time
/// by `changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLimit {
    /// Requests each API admits in any sliding second, from the start.
    pub per_second: u32,
    /// Whether and how answers announce the limit.
    pub headers: LimitHeaders,
    /// Later limits; the last one whose time has come is in force.
    pub changes: Vec<LimitChange>,
}

impl RequestLimit {
    /// `per_second` requests in any sliding second, not announced, never changing.
    pub fn new(per_second: u32) -> RequestLimit {
        RequestLimit {
            per_second,
            headers: LimitHeaders::None,
            changes: Vec::new(),
        }
    }

    /// The limit in force `elapsed` after the sandbox started.
    fn per_second_at(&self, elapsed: Duration) -> u32 {
        self.changes
            .iter()
            .filter(|change| change.after <= elapsed)
            .max_by_key(|change| change.after)
            .map_or(self.per_second, |change| change.per_second)
    }
}

impl fmt::Display for RequestLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests in any sliding second per API",
            self.per_second
        )?;
        let mut changes = self.changes.clone();
        changes.sort_by_key(|change| change.after);
        for change in changes {
            write!(
                f,
                ", {} from {}s",
                change.per_second,
                change.after.as_secs_f64()
            )?;
        }
        match self.headers {
            LimitHeaders::None => write!(f, ", not announced"),
            LimitHeaders::Ietf => write!(f, ", announced in RateLimit-Policy and RateLimit"),
            LimitHeaders::X => write!(f, ", announced in X-RateLimit-*"),
        }
    }
}

/// Which headers announce the limit on every answer of a limited API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LimitHeaders {
    /// None: the client finds the limit by running into it.
    #[default]
    None,
    /// The IETF draft's `RateLimit-Policy: "default";q=N;w=1` and `RateLimit:
    /// "default";r=REMAINING;t=SECONDS`.
    Ietf,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds from now).
    X,
}

/// From `after` the sandbox started on, each API admits `per_second` requests in any sliding
/// second. Written `AFTER:LIMIT`, e.g. `10s:10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitChange {
    /// Time since the sandbox started from which the new limit holds.
    pub after: Duration,
    /// The new limit: requests each API admits in any sliding second.
    pub per_second: u32,
}

impl FromStr for LimitChange {
    type Err = String;

    fn from_str(text: &str) -> Result<LimitChange, String> {
        let form = "write it AFTER:LIMIT, e.g. `10s:10` for 10 requests a second from 10 seconds \
                    after the sandbox started";
        let Some((after, limit)) = text.split_once(':') else {
            return Err(format!("`{text}` has no `:`; {form}"));
        };
        let after = Span::parse(after).map_err(|error| format!("{error}; {form}"))?;
        let per_second = match limit.trim().parse::<u32>() {
            Ok(0) | Err(_) => {
                return Err(format!(
                    "`{limit}` is not a number of requests from 1 to {}; {form}",
                    u32::MAX
                ));
            }
            Ok(n) => n,
        };
        Ok(LimitChange {
            after: after.0,
            per_second,
        })
    }
}

/// What one API admitted and refused in one second since the sandbox started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LimitTally {
    /// The API's name as served (`http`, `beam-prod`, …).
    pub api: String,
    /// Whole seconds since the sandbox started: this tally counts requests that arrived from
    /// `second` to `second + 1`.
    pub second: u64,
    /// Requests admitted in that second.
    pub admitted: u64,
    /// Requests refused with the API's throttle in that second.
    pub throttled: u64,
}

/// One API's window and its tallies by second.
#[derive(Debug, Default)]
struct ApiLimit {
    window: Window,
    /// (admitted, throttled) by whole second since start; only seconds with requests.
    by_second: BTreeMap<u64, (u64, u64)>,
}

/// The limit of a running sandbox: a window per API.
#[derive(Debug)]
pub(crate) struct Limiter {
    rule: RequestLimit,
    started: Instant,
    apis: Mutex<HashMap<&'static str, ApiLimit>>,
}

impl Limiter {
    pub(crate) fn new(rule: RequestLimit) -> Limiter {
        Limiter {
            rule,
            started: Instant::now(),
            apis: Mutex::new(HashMap::new()),
        }
    }

    /// Decides on a request to `api` arriving now, and tallies it.
    pub(crate) fn admit(&self, api: &'static str) -> Admission {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.started);
        let verdict = {
            let mut apis = lock(&self.apis);
            let limited = apis.entry(api).or_default();
            let verdict = limited.window.admit(self.rule.per_second_at(elapsed), now);
            let (admitted, throttled) = limited.by_second.entry(elapsed.as_secs()).or_default();
            match verdict {
                Verdict::Admitted(_) => *admitted += 1,
                Verdict::Throttled { .. } => *throttled += 1,
            }
            verdict
        };
        Admission {
            verdict,
            headers: self.rule.headers,
        }
    }

    /// The limit in force now.
    pub(crate) fn per_second_now(&self) -> u32 {
        self.rule
            .per_second_at(Instant::now().saturating_duration_since(self.started))
    }

    /// Every API's tallies, by API name then second.
    pub(crate) fn tally(&self) -> Vec<LimitTally> {
        let apis = lock(&self.apis);
        let mut names: Vec<&&'static str> = apis.keys().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|name| {
                apis[*name]
                    .by_second
                    .iter()
                    .map(|(&second, &(admitted, throttled))| LimitTally {
                        api: (*name).to_owned(),
                        second,
                        admitted,
                        throttled,
                    })
            })
            .collect()
    }
}

/// The decision on one request, and how to announce it.
#[derive(Debug)]
pub(crate) struct Admission {
    verdict: Verdict,
    headers: LimitHeaders,
}

impl Admission {
    /// Whether the request is refused.
    #[cfg(test)]
    pub(crate) fn throttled(&self) -> bool {
        matches!(self.verdict, Verdict::Throttled { .. })
    }

    /// The refusal in `api`'s dialect, or `None` when the request is admitted.
    pub(crate) fn refusal(
        &self,
        api: &dyn EmulatedApi,
        request_headers: &HeaderMap,
    ) -> Option<Response> {
        match self.verdict {
            Verdict::Admitted(_) => None,
            Verdict::Throttled {
                retry_after_secs, ..
            } => Some(api.rate_limited(request_headers, &retry_after_secs.to_string())),
        }
    }

    /// Adds the announcing headers to an answer (none unless asked for).
    pub(crate) fn announce(&self, headers: &mut HeaderMap) {
        announce::announce(self.headers, self.verdict.quota(), headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_written_after_colon_limit() {
        assert_eq!(
            "10s:10".parse::<LimitChange>(),
            Ok(LimitChange {
                after: Duration::from_secs(10),
                per_second: 10
            })
        );
        assert_eq!(
            "1m30s: 7".parse::<LimitChange>().map(|c| c.after),
            Ok(Duration::from_secs(90))
        );
        let no_colon = "10s".parse::<LimitChange>().expect_err("refused");
        assert!(no_colon.starts_with("`10s` has no `:`; write it AFTER:LIMIT, e.g. `10s:10`"));
        let zero = "10s:0".parse::<LimitChange>().expect_err("refused");
        assert!(
            zero.starts_with("`0` is not a number of requests from 1 to"),
            "{zero}"
        );
        assert!("ten:10".parse::<LimitChange>().is_err());
    }

    #[test]
    fn the_latest_change_whose_time_has_come_is_in_force() {
        let rule = RequestLimit {
            changes: vec![
                LimitChange {
                    after: Duration::from_secs(20),
                    per_second: 5,
                },
                LimitChange {
                    after: Duration::from_secs(10),
                    per_second: 10,
                },
            ],
            ..RequestLimit::new(20)
        };
        let at = |secs| rule.per_second_at(Duration::from_millis(secs));
        assert_eq!(
            [at(0), at(9_999), at(10_000), at(19_999), at(20_000)],
            [20, 20, 10, 10, 5]
        );
        assert_eq!(
            rule.to_string(),
            "20 requests in any sliding second per API, 10 from 10s, 5 from 20s, not announced"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_api_has_its_own_window_and_tally() {
        let limiter = Limiter::new(RequestLimit::new(1));
        assert!(!limiter.admit("beam").throttled());
        assert!(!limiter.admit("beam-prod").throttled());
        assert!(limiter.admit("beam").throttled());
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(!limiter.admit("beam").throttled());
        let tally = |api: &str, second, admitted, throttled| LimitTally {
            api: api.to_owned(),
            second,
            admitted,
            throttled,
        };
        assert_eq!(
            limiter.tally(),
            [
                tally("beam", 0, 1, 1),
                tally("beam", 1, 1, 0),
                tally("beam-prod", 0, 1, 0)
            ]
        );
    }
}
