//! Fault injection: with probability `faults`, an API request is answered with a transient error
//! instead of reaching the emulation.
//!
//! Invariants:
//! - The decision sequence comes from one RNG seeded from the sandbox seed, so a given seed and a
//!   given order of requests always fault the same requests.
//! - Faults alternate by kind: the 1st, 3rd, 5th … fault is a 503, the 2nd, 4th … a rate limit; the
//!   rate limits alternate between `Retry-After: <seconds>` and `Retry-After: <HTTP-date>`.
//! - A rate limit is answered in the API's own dialect ([`EmulatedApi::rate_limited`]): GeeLark's
//!   is HTTP 200 with envelope code 40007 and no `Retry-After`; Skyvern's 429 carries no
//!   `Retry-After`, as the real server's does not.
//! - A faulted request never reaches the handler, so it changes no state.
//! - With a streak cap, one request (method, API, path, query) is faulted at most that many times
//!   in a row: a client that tries one more time than the cap always gets through. The RNG is
//!   drawn for a request let through so, as without the cap, the sequence stays the seed's.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::api::EmulatedApi;

/// Salt so the fault sequence is independent of the seeded task data.
const FAULT_SALT: u64 = 0x6661_756c_7473_2121;

/// What an injected fault answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Unavailable,
    RateLimitedSeconds,
    RateLimitedDate,
}

/// The seeded fault decision sequence.
#[derive(Debug)]
pub(crate) struct Dice {
    rng: StdRng,
    probability: f64,
    faults_so_far: u64,
    /// See [`SandboxConfig::max_fault_streak`](super::SandboxConfig::max_fault_streak).
    max_streak: Option<u32>,
    /// Faults in a row, per request faulted last time it came.
    streaks: HashMap<String, u32>,
}

impl Dice {
    pub(crate) fn new(seed: u64, probability: f64, max_streak: Option<u32>) -> Dice {
        Dice {
            rng: StdRng::seed_from_u64(seed ^ FAULT_SALT),
            probability,
            faults_so_far: 0,
            max_streak,
            streaks: HashMap::new(),
        }
    }

    /// Decides the fate of the next API request; `request` names it (method, API, path, query),
    /// asked only under a streak cap: the sandbox's hot path makes no name otherwise.
    pub(crate) fn roll(&mut self, request: impl FnOnce() -> String) -> Option<Fault> {
        if self.probability <= 0.0 {
            return None;
        }
        let drawn = self.rng.random::<f64>() < self.probability;
        let Some(max) = self.max_streak else {
            return drawn.then(|| self.next_fault());
        };
        let request = request();
        let streak = self.streaks.get(&request).copied().unwrap_or(0);
        if !drawn || streak >= max {
            self.streaks.remove(&request);
            return None;
        }
        self.streaks.insert(request, streak + 1);
        Some(self.next_fault())
    }

    /// The kind of the next fault: see the module's documentation.
    fn next_fault(&mut self) -> Fault {
        let fault = match self.faults_so_far % 4 {
            0 | 2 => Fault::Unavailable,
            1 => Fault::RateLimitedSeconds,
            _ => Fault::RateLimitedDate,
        };
        self.faults_so_far += 1;
        fault
    }
}

/// The HTTP-date `secs` seconds from now, rounded up to a whole second so that the announced
/// wait is never shorter than `secs`.
fn http_date_after(secs: u64) -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(Duration::from_secs(secs));
    let mut whole = since_epoch.as_secs();
    if since_epoch.subsec_nanos() > 0 {
        whole += 1;
    }
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(whole))
}

/// The answer to a faulted request: a 503, or a rate limit in the dialect of `api`.
pub(crate) fn respond(
    api: &dyn EmulatedApi,
    fault: Fault,
    request_headers: &HeaderMap,
    retry_after_secs: u64,
) -> Response {
    let retry_after = match fault {
        Fault::Unavailable => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"error": "unavailable"})),
            )
                .into_response();
        }
        Fault::RateLimitedSeconds => retry_after_secs.to_string(),
        Fault::RateLimitedDate => http_date_after(retry_after_secs),
    };
    api.rate_limited(request_headers, &retry_after)
}

/// A 429 with `body`, announcing `retry_after` when given (an HTTP-date or whole seconds).
pub(crate) fn too_many_requests(body: serde_json::Value, retry_after: Option<&str>) -> Response {
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    if let Some(value) = retry_after.and_then(|value| HeaderValue::from_str(value).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// How many milliseconds from `now` a `Retry-After` header value asks the client to wait.
pub(crate) fn retry_after_ms(value: &HeaderValue) -> Option<u64> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    let wait = date.duration_since(SystemTime::now()).unwrap_or_default();
    Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let mut a = Dice::new(3, 0.5, None);
        let mut b = Dice::new(3, 0.5, None);
        let run_a: Vec<_> = (0..200)
            .map(|_| a.roll(|| "GET http /tasks".into()))
            .collect();
        let run_b: Vec<_> = (0..200)
            .map(|_| b.roll(|| "GET http /tasks".into()))
            .collect();
        assert_eq!(run_a, run_b);
        let kinds: Vec<_> = run_a.into_iter().flatten().take(4).collect();
        assert_eq!(
            kinds,
            [
                Fault::Unavailable,
                Fault::RateLimitedSeconds,
                Fault::Unavailable,
                Fault::RateLimitedDate
            ]
        );
    }

    #[test]
    fn zero_probability_never_faults() {
        let mut dice = Dice::new(1, 0.0, None);
        assert!((0..1000).all(|_| dice.roll(|| "GET http /tasks".into()).is_none()));
    }

    #[test]
    fn a_capped_streak_lets_the_next_try_of_that_request_through_and_no_other() {
        // Every request would fault: the cap alone decides.
        let mut dice = Dice::new(5, 1.0, Some(2));
        let retry: Vec<bool> = (0..6)
            .map(|_| dice.roll(|| "POST http /t/1".into()).is_some())
            .collect();
        assert_eq!(retry, [true, true, false, true, true, false]);
        // Another request's streak is its own.
        assert!(dice.roll(|| "POST http /t/2".into()).is_some());
        // Uncapped, every one faults.
        let mut uncapped = Dice::new(5, 1.0, None);
        assert!((0..10).all(|_| uncapped.roll(|| "POST http /t/1".into()).is_some()));
    }

    #[test]
    fn the_cap_only_lets_requests_through_and_keeps_the_draws() {
        let mut capped = Dice::new(9, 0.6, Some(1));
        let mut free = Dice::new(9, 0.6, None);
        let (mut let_through, mut faulted) = (0, 0);
        for i in 0..300 {
            let request = || format!("GET http /t/{}", i % 3);
            match (capped.roll(request), free.roll(request)) {
                (Some(_), None) => panic!("the cap made a fault the draw did not"),
                (None, Some(_)) => let_through += 1,
                (Some(_), Some(_)) => faulted += 1,
                (None, None) => {}
            }
        }
        assert!(let_through > 0 && faulted > 0, "{let_through} {faulted}");
    }

    #[test]
    fn http_date_wait_is_at_least_the_seconds() {
        let value = HeaderValue::from_str(&http_date_after(2)).expect("ascii date");
        let wait = retry_after_ms(&value).expect("parses");
        assert!((1000..=3000).contains(&wait), "{wait}");
    }
}
