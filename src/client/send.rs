//! The send loop: a request's attempts, transient failures retried with backoff, a `Retry-After`
//! obeyed (and shared through the gate) or refused when longer than `max_retry_after`, every wait
//! ended by the run's stop.
//!
//! Every answer is also shown to the rate limiters (the client's and the step's), so that an
//! adaptive pace moves: a 429, a 503 with `Retry-After` or the adapter's own throttle sign slows it,
//! a clean answer may speed it up, and rate-limit headers set it.
//!
//! Invariant: a mutating request whose sending may have been carried out is never sent again.

use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::time::Instant;

use super::backoff::BackoffPolicy;
use super::exchange::{Answer, Failure};
use super::limiter::{self, RateLimiter};
use super::pace::headers::Announced;
use super::pace::{Observation, Signal, show};
use super::{Effect, Exchange, HttpClient, NOT_SENT_STOPPED, Request};
use crate::progress::Event;
use crate::providers::Verdict;

impl HttpClient {
    /// Like [`HttpClient::send`], for a request whose first attempt already waited its turn with
    /// [`HttpClient::pace`] (so that its intent can be recorded just before it leaves).
    pub async fn send_paced(
        &self,
        request: &Request,
        effect: Effect,
        policy: &BackoffPolicy,
        limiter: Option<&RateLimiter>,
    ) -> Exchange {
        let mut attempt = 0;
        let mut paced = true;
        loop {
            if !paced && self.pace(limiter).await.is_err() {
                return stopped_after(attempt);
            }
            paced = false;
            if self.depart(limiter).await.is_err() {
                return stopped_after(attempt);
            }
            attempt += 1;
            let sent_at = Instant::now();
            let outcome = self.attempt(request, effect, policy, attempt).await;
            let last = attempt >= policy.attempts;
            let (response, asked) = match outcome {
                Ok(Answer {
                    response,
                    retry_after,
                }) => (response, retry_after),
                Err(Failure::GateClosed) => {
                    // Its turn came, then a throttled answer closed the gate: it waits again, and
                    // this was no attempt.
                    attempt -= 1;
                    continue;
                }
                Err(Failure::Interrupted { in_flight: false }) => {
                    attempt -= 1;
                    return stopped_after(attempt);
                }
                Err(Failure::Interrupted { in_flight: true }) => {
                    return match effect {
                        Effect::Mutate => Exchange {
                            ambiguous: true,
                            ..Exchange::without_answer(
                                attempt,
                                "the run was stopped while the request was in flight; it may have been carried out".into(),
                            )
                        },
                        Effect::Read => Exchange::without_answer(
                            attempt,
                            "the run was stopped before the answer came".into(),
                        ),
                    };
                }
                Err(Failure::Unsendable(message)) => {
                    return Exchange::without_answer(attempt - 1, message);
                }
                Err(Failure::Refused {
                    message,
                    maybe_carried_out,
                }) => {
                    return Exchange {
                        ambiguous: maybe_carried_out && effect == Effect::Mutate,
                        ..Exchange::without_answer(attempt, message)
                    };
                }
                Err(Failure::Transport { message, not_sent }) => {
                    let safe_to_resend = not_sent || effect == Effect::Read;
                    if !safe_to_resend {
                        let error = format!(
                            "{message}; the request may have been carried out, so it was not sent again"
                        );
                        return Exchange {
                            ambiguous: true,
                            ..Exchange::without_answer(attempt, error)
                        };
                    }
                    if last {
                        let error = format!("{message}, still after {attempt} attempts");
                        return Exchange::without_answer(attempt, error);
                    }
                    let wait = policy.delay(attempt, rand::rng().random::<f64>());
                    self.progress.event(Event::Backoff {
                        reason: message,
                        wait,
                    });
                    if limiter::sleep(wait, &self.stop).await.is_err() {
                        let error =
                            format!("not sent again after {attempt} attempts: the run was stopped");
                        return Exchange::without_answer(attempt, error);
                    }
                    continue;
                }
            };
            self.tell_pace(limiter, sent_at, &response, asked.is_some());
            let verdict = self
                .provider
                .inspect(response.status, response.json.as_ref());
            let transient = match &verdict {
                Verdict::Transient { reason } => Some(reason.clone()),
                _ if policy.is_transient(response.status) => {
                    Some(format!("HTTP {}", response.status))
                }
                _ => None,
            };
            let Some(reason) = transient else {
                return Exchange::answered(response, verdict, attempt, None);
            };
            if let Some(wait) = asked
                .filter(|w| *w <= policy.max_retry_after)
                .filter(|_| !policy.is_transient(response.status))
            {
                // An envelope that says "throttled" is read in the body: the gate closes now. (A
                // transient status closed it as soon as its headers were read, in `attempt`.)
                self.gate.close_for(wait);
            }
            if last {
                let error = Some(format!("{reason}, still after {attempt} attempts"));
                return Exchange::answered(response, verdict, attempt, error);
            }
            let wait = match asked {
                Some(wait) if wait > policy.max_retry_after => {
                    // `Duration::MAX` stands for a value past any clock (see `parse_retry_after`).
                    let asked = if wait == Duration::MAX {
                        "longer than any clock holds".to_string()
                    } else {
                        format!("{}s", wait.as_secs())
                    };
                    let error = Some(format!(
                        "{reason}: the provider asked to wait {asked} (Retry-After), more than max_retry_after {}s",
                        policy.max_retry_after.as_secs()
                    ));
                    return Exchange::answered(response, verdict, attempt, error);
                }
                // Every worker waits at the gate: the provider's limit is shared, not per request.
                Some(wait) => wait,
                None => policy.delay(attempt, rand::rng().random::<f64>()),
            };
            self.progress.event(Event::Backoff {
                reason: reason.clone(),
                wait,
            });
            if limiter::sleep(wait, &self.stop).await.is_err() {
                let error = Some(format!(
                    "{reason}; not sent again after {}: the run was stopped",
                    attempts(attempt)
                ));
                return Exchange::answered(response, verdict, attempt, error);
            }
        }
    }
}

impl HttpClient {
    /// Show an answer to the rate limiters that pace its request, and any change of pace to
    /// progress.
    fn tell_pace(
        &self,
        step: Option<&RateLimiter>,
        sent_at: Instant,
        response: &super::Response,
        retry_after: bool,
    ) {
        let limiters: Vec<&RateLimiter> = self.rate.iter().chain(step).collect();
        if limiters.is_empty() {
            return;
        }
        let status = response.status;
        let sign = self
            .provider
            .throttle_sign(status, response.json.as_ref())
            .or_else(|| match status {
                429 => Some("HTTP 429".to_string()),
                503 if retry_after => Some("HTTP 503 with Retry-After".to_string()),
                _ => None,
            });
        let signal = match sign {
            Some(why) => Signal::Throttled { why },
            None if status < 500 => Signal::Clean,
            None => Signal::Neutral,
        };
        let announced = Announced::read(&response.headers, SystemTime::now());
        let mut shown = None;
        for limiter in limiters {
            let seen = Observation {
                sent_at,
                signal: signal.clone(),
                announced: announced.clone(),
            };
            // The connection's pace and the step's, moved alike by one answer, are shown once.
            if let Some(change) = limiter.observe(seen).filter(|c| shown.as_ref() != Some(c)) {
                self.progress.event(Event::Pace {
                    pace: show(change.to),
                    reason: format!("{} (was {})", change.reason, show(change.from)),
                });
                shown = Some(change);
            }
        }
    }
}

/// A request the run's stop kept from leaving, first or again after `made` attempts.
fn stopped_after(made: u32) -> Exchange {
    let error = match made {
        0 => NOT_SENT_STOPPED.to_string(),
        n => format!("not sent again after {}: the run was stopped", attempts(n)),
    };
    Exchange::without_answer(made, error)
}

/// "1 attempt", "3 attempts".
fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".into()
    } else {
        format!("{n} attempts")
    }
}
