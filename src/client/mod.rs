//! The one HTTP client of a run. Every request goes through [`HttpClient::send`]: the `Retry-After`
//! gate, the rate limits, the adapter's per-attempt preparation (signatures), a connect and a total
//! timeout, a cap on the body read, and transient failures retried with backoff.
//!
//! A request that mutates (a retry) is never sent twice when its first sending may have been carried
//! out: after a connection error it is resent (nothing reached the provider), after a timeout or a
//! broken answer it is not. 429, 502, 503 and 504 are answers: the provider did nothing.
//!
//! Invariants a hostile provider cannot break:
//! - Redirects are followed here, not by the HTTP library: a mutating request follows none (it is
//!   not sent again anywhere, nor turned into a GET); a read follows up to [`MAX_REDIRECTS`] to
//!   its own origin (scheme, host, port), or to another if the connection allows it
//!   ([`Redirects::Any`]), and then with no header at all: no credential of the playbook or the
//!   adapter leaves for a host it was not meant for.
//! - A throttled answer (a transient status with `Retry-After`) closes the gate as soon as its
//!   headers are read, before its body; the gate is looked at again immediately before a request
//!   is written, so only requests already on the wire can land inside the window.
//! - Every wait (gate, rate slot, backoff) ends at once when the run's stop token is cancelled
//!   (SIGINT/SIGTERM); nothing is written after it. A read in flight is dropped; a mutating request
//!   in flight gets [`IN_FLIGHT_GRACE`], then is abandoned as ambiguous (its ledger intent stays in
//!   flight for `--resume` to check).
//! - A header HTTP cannot carry (a line break in its value) fails the request at once, naming the
//!   header and never its value; it is not retried.

//!
//! Rooms: [`send`] (the loop over attempts: backoff, `Retry-After`, the gate), [`exchange`] (one
//! attempt on the wire: prepared, written, its answer read), [`redirect`] (which redirects a
//! request follows), [`backoff`] and [`limiter`] (waits).

pub mod backoff;
mod exchange;
pub mod limiter;
pub(crate) mod pace;
mod redirect;
mod send;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::Value;

use crate::progress::Progress;
use crate::providers::{Provider, Verdict};
use crate::secrets::{EnvSource, Redactor, SecretSource};
use backoff::BackoffPolicy;
use limiter::{Gate, Interrupted, RateLimiter};
use tokio_util::sync::CancellationToken;

/// The most of a response body read; past it the answer is refused.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A request ready to send.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// An answer, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: http::header::HeaderMap,
    pub text: String,
    /// The body as JSON, when it is JSON.
    pub json: Option<Value>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A short account of a body that is not the JSON expected: its type and first characters,
    /// redacted before they are cut (a page that echoes a key must not leave the key's start).
    pub fn describe_body(&self, redactor: &Redactor) -> String {
        let kind = redactor.excerpt(self.header("content-type").unwrap_or("no content type"), 80);
        let start = redactor.excerpt(self.text.trim_start(), 60);
        if self.text.trim().is_empty() {
            format!("an empty body ({kind})")
        } else if self.json.is_none()
            && (self.text.trim_start().starts_with('{') || self.text.trim_start().starts_with('['))
        {
            format!("truncated or malformed JSON ({kind}) starting {start:?}")
        } else {
            format!("{kind} starting {start:?}")
        }
    }
}

/// How a request ended.
#[derive(Debug)]
pub struct Exchange {
    /// The last answer, if any came.
    pub response: Option<Response>,
    /// What the adapter made of the last answer.
    pub verdict: Verdict,
    /// Attempts made (0 when the request was never sent: the run was stopped first, or it cannot
    /// be sent).
    pub attempts: u32,
    /// Why no usable answer came (transport failure, transient to the end, refused wait).
    pub error: Option<String>,
    /// A mutating request was sent and no answer came: it may have been carried out.
    pub ambiguous: bool,
}

impl Exchange {
    /// A request that got no usable answer.
    fn without_answer(attempts: u32, error: String) -> Exchange {
        Exchange {
            response: None,
            verdict: Verdict::AsIs,
            attempts,
            error: Some(error),
            ambiguous: false,
        }
    }

    /// A request that got an answer: usable when `error` is `None`, else why it is not (transient
    /// to the end, or a wait longer than allowed).
    fn answered(
        response: Response,
        verdict: Verdict,
        attempts: u32,
        error: Option<String>,
    ) -> Exchange {
        Exchange {
            response: Some(response),
            verdict,
            attempts,
            error,
            ambiguous: false,
        }
    }
}

/// Whether a request changes anything at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Read,
    Mutate,
}

/// Which redirects a reading request follows. A request that changes anything follows none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Redirects {
    /// Follow none: a redirect is an error naming its `Location`.
    None,
    /// Follow those to the same scheme, host and port as the request (the default).
    #[default]
    SameOrigin,
    /// Follow any; one to another origin carries none of the request's headers.
    Any,
}

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// How long a mutating request already on the wire may still take once the run is stopped; past
/// it, it is abandoned and left in the ledger as in flight, for `--resume` to check.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_millis(500);

/// The account given of a request the run's stop kept from leaving.
pub const NOT_SENT_STOPPED: &str = "not sent: the run was stopped";

/// How the client behaves, from the playbook's `connection`.
#[derive(Clone, Copy, Debug)]
pub struct ClientSettings {
    /// A rate over every request of the run, fixed or adaptive.
    pub rate: Option<pace::Pace>,
    /// Time allowed for one whole request.
    pub timeout: Duration,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Which redirects a read follows.
    pub redirects: Redirects,
}

pub struct HttpClient {
    wire: wire::Wire,
    provider: Arc<dyn Provider>,
    env: Arc<EnvSource>,
    redactor: Redactor,
    progress: Arc<dyn Progress>,
    gate: Gate,
    rate: Option<RateLimiter>,
    redirects: Redirects,
    /// Cancelled on SIGINT/SIGTERM: every wait ends, nothing more is sent.
    stop: CancellationToken,
}

/// Why the HTTP client could not be built: nothing has been sent.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the HTTP client: {0}")]
pub struct ClientError(#[from] wire::WireSetupError);

impl HttpClient {
    /// The run's one client: its timeouts, rate and redirect rule from `settings`, the adapter's
    /// credentials registered with `redactor`.
    pub fn new(
        provider: Arc<dyn Provider>,
        env: Arc<EnvSource>,
        redactor: Redactor,
        progress: Arc<dyn Progress>,
        settings: ClientSettings,
        stop: CancellationToken,
    ) -> Result<HttpClient, ClientError> {
        // Redirects are followed by hand (`attempt`), header by header: a client's own policy
        // would carry the adapter's credential headers to another origin and resend a POST.
        let wire = wire::Wire::new(settings.timeout, settings.connect_timeout)?;
        // An adapter may use a credential without a template ever reading it (GeeLark signs with
        // its key): it is redacted all the same.
        for var in provider.env_vars() {
            if let Some(value) = env.get(var.name) {
                redactor.register_from(SecretSource::Variable {
                    name: var.name,
                    value,
                });
            }
        }
        Ok(HttpClient {
            wire,
            provider,
            env,
            redactor,
            progress,
            gate: Gate::default(),
            rate: settings.rate.map(RateLimiter::paced),
            redirects: settings.redirects,
            stop,
        })
    }

    /// What the connection's adaptive pace did, when it has one.
    pub(crate) fn pace_summary(&self) -> Option<pace::PaceSummary> {
        self.rate.as_ref().and_then(RateLimiter::summary)
    }

    /// The run's stop: cancelled on SIGINT/SIGTERM.
    pub fn stop(&self) -> &CancellationToken {
        &self.stop
    }

    /// Wait for this request's turn: the `Retry-After` gate, the client's rate and the step's.
    /// `Err` when the run was stopped meanwhile: the request must not be sent.
    pub async fn pace(&self, limiter: Option<&RateLimiter>) -> Result<(), Interrupted> {
        // A Retry-After may arrive while this request waits for its rate slot: then it waits
        // out the gate and takes a new slot, so the workers held back do not all go at once.
        loop {
            self.gate.wait(&self.stop).await?;
            if let Some(rate) = &self.rate {
                rate.turn(&self.stop).await?;
            }
            if let Some(limiter) = limiter {
                limiter.turn(&self.stop).await?;
            }
            if self.gate.is_open() {
                return Ok(());
            }
        }
    }

    /// Wait until a request whose turn came may be written: the rates count it as it leaves.
    async fn depart(&self, limiter: Option<&RateLimiter>) -> Result<(), Interrupted> {
        for rate in [self.rate.as_ref(), limiter].into_iter().flatten() {
            rate.depart(&self.stop).await?;
        }
        Ok(())
    }

    /// Send `request`, retrying transient failures under `policy`, paced by the client's rate, the
    /// step's `limiter`, and the `Retry-After` gate.
    pub async fn send(
        &self,
        request: &Request,
        effect: Effect,
        policy: &BackoffPolicy,
        limiter: Option<&RateLimiter>,
    ) -> Exchange {
        if self.pace(limiter).await.is_err() {
            return Exchange::without_answer(0, NOT_SENT_STOPPED.into());
        }
        self.send_paced(request, effect, policy, limiter).await
    }
}

/// Why a header cannot be sent; it names the header, never its value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A name with characters HTTP does not allow in one (a space, a colon).
    #[error(
        "the header name {name:?} cannot be sent: HTTP allows only letters, digits and !#$%&'*+-.^_`|~ in a header name"
    )]
    BadName { name: String },
    /// A value holding a line break or another control character.
    #[error(
        "the header {name} cannot be sent: its value holds a line break or another control character HTTP forbids; check the value it is built from"
    )]
    BadValue { name: String },
}

/// A header as HTTP can carry it, or why it cannot be sent (naming the header, never the value).
pub fn header_pair(
    name: &str,
    value: &str,
) -> Result<(http::header::HeaderName, http::header::HeaderValue), HeaderError> {
    let header_name = http::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        HeaderError::BadName {
            name: name.to_string(),
        }
    })?;
    let header_value =
        http::header::HeaderValue::from_str(value).map_err(|_| HeaderError::BadValue {
            name: name.to_string(),
        })?;
    Ok((header_name, header_value))
}
