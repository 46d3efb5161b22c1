//! The one HTTP client of a run. Every request goes through [`HttpClient::send`]: the `Retry-After`
//! gate, the rate limits, the adapter's per-attempt preparation (signatures), a connect and a total
//! timeout, a cap on the body read, and transient failures retried with backoff.
//!
//! A request that mutates (a retry) is never sent twice when its first sending may have been carried
//! out: after a connection error it is resent (nothing reached the provider), after a timeout or a
//! broken answer it is not. 429, 502, 503 and 504 are answers: the provider did nothing.
//!
//! Invariants a hostile provider cannot break:
//! - Redirects are followed here, not by reqwest: a mutating request follows none (it is not sent
//!   again anywhere, nor turned into a GET); a read follows up to [`MAX_REDIRECTS`] to its own
//!   origin (scheme, host, port), or to another if the connection allows it ([`Redirects::Any`]),
//!   and then with no header at all: no credential of the playbook or the adapter leaves for a host
//!   it was not meant for.
//! - A throttled answer (a transient status with `Retry-After`) closes the gate as soon as its
//!   headers are read, before its body; the gate is looked at again immediately before a request
//!   is written, so only requests already on the wire can land inside the window.
//! - Every wait (gate, rate slot, backoff) ends at once when the run's stop token is cancelled
//!   (SIGINT/SIGTERM); nothing is written after it. A read in flight is dropped; a mutating request
//!   in flight gets [`IN_FLIGHT_GRACE`], then is abandoned as ambiguous (its ledger intent stays in
//!   flight for `--resume` to check).
//! - A header HTTP cannot carry (a line break in its value) fails the request at once, naming the
//!   header and never its value; it is not retried.

pub mod backoff;
pub mod limiter;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::Method;
use serde_json::Value;

use crate::progress::{Event, Progress};
use crate::providers::{OutgoingRequest, Provider, Verdict};
use crate::secrets::{EnvSource, Redactor, SecretSource};
use backoff::{BackoffPolicy, parse_retry_after};
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
    pub headers: reqwest::header::HeaderMap,
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
    /// A rate over every request of the run.
    pub rate: Option<crate::units::Rate>,
    /// Time allowed for one whole request.
    pub timeout: Duration,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Which redirects a read follows.
    pub redirects: Redirects,
}

pub struct HttpClient {
    client: reqwest::Client,
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

impl HttpClient {
    pub fn new(
        provider: Arc<dyn Provider>,
        env: Arc<EnvSource>,
        redactor: Redactor,
        progress: Arc<dyn Progress>,
        settings: ClientSettings,
        stop: CancellationToken,
    ) -> Result<HttpClient, String> {
        // Redirects are followed by hand (`attempt`), header by header: reqwest's policy would
        // carry the adapter's credential headers to another origin and resend a POST.
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
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
            client,
            provider,
            env,
            redactor,
            progress,
            gate: Gate::default(),
            rate: settings.rate.map(RateLimiter::new),
            redirects: settings.redirects,
            stop,
        })
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
                rate.acquire(&self.stop).await?;
            }
            if let Some(limiter) = limiter {
                limiter.acquire(&self.stop).await?;
            }
            if self.gate.is_open() {
                return Ok(());
            }
        }
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
                let error = match attempt {
                    0 => NOT_SENT_STOPPED.to_string(),
                    n => format!("not sent again after {}: the run was stopped", attempts(n)),
                };
                return Exchange::without_answer(attempt, error);
            }
            paced = false;
            attempt += 1;
            let outcome = self.attempt(request, effect, policy, attempt).await;
            let last = attempt >= policy.attempts;
            let response = match outcome {
                Ok(response) => response,
                Err(Failure::GateClosed) => {
                    // Its turn came, then a throttled answer closed the gate: it waits again, and
                    // this was no attempt.
                    attempt -= 1;
                    continue;
                }
                Err(Failure::Interrupted { in_flight: false }) => {
                    attempt -= 1;
                    let error = match attempt {
                        0 => NOT_SENT_STOPPED.to_string(),
                        n => format!("not sent again after {}: the run was stopped", attempts(n)),
                    };
                    return Exchange::without_answer(attempt, error);
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
            let asked = response
                .header("retry-after")
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
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

    /// One attempt: prepare, a last look at the gate and the stop, send, and follow the redirects a
    /// read may follow. The gate closes as soon as a throttled answer's headers are read.
    async fn attempt(
        &self,
        request: &Request,
        effect: Effect,
        policy: &BackoffPolicy,
        attempt: u32,
    ) -> Result<Response, Failure> {
        let mut hop = Hop {
            method: request.method.clone(),
            url: request.url.clone(),
            body: request.body.clone(),
            own_origin: true,
        };
        let mut hops = 0;
        loop {
            let outgoing = self.outgoing(request, &hop)?;
            let built = self.build(&hop.method, &outgoing)?;
            // The last look before the request is written: a signal or a throttled answer that
            // came while it was prepared (or recorded in the ledger) keeps it back.
            if self.stop.is_cancelled() {
                return Err(Failure::Interrupted { in_flight: false });
            }
            if !self.gate.is_open() {
                return Err(Failure::GateClosed);
            }
            let exchange = self.exchange(built, &hop, policy, attempt);
            let reply = match effect {
                Effect::Read => {
                    tokio::select! {
                        biased;
                        () = self.stop.cancelled() => return Err(Failure::Interrupted { in_flight: true }),
                        reply = exchange => reply?,
                    }
                }
                Effect::Mutate => {
                    let grace = async {
                        self.stop.cancelled().await;
                        tokio::time::sleep(IN_FLIGHT_GRACE).await;
                    };
                    tokio::select! {
                        biased;
                        reply = exchange => reply?,
                        () = grace => return Err(Failure::Interrupted { in_flight: true }),
                    }
                }
            };
            match reply {
                Reply::Answer(response) => return Ok(response),
                Reply::Redirect { status, location } => {
                    hop = self.redirect(&hop, effect, status, &location, hops)?;
                    hops += 1;
                }
            }
        }
    }

    /// The request of one hop as it will be sent: the request's headers and the adapter's
    /// preparation on its own origin; on another origin (a redirect the playbook allowed), no
    /// header at all, so no credential leaves for a host it was not meant for.
    fn outgoing(&self, request: &Request, hop: &Hop) -> Result<OutgoingRequest, Failure> {
        let mut outgoing = OutgoingRequest {
            method: hop.method.to_string(),
            url: hop.url.to_string(),
            headers: Vec::new(),
            body: hop.body.clone(),
        };
        if !hop.own_origin {
            return Ok(outgoing);
        }
        outgoing.headers = request.headers.clone();
        self.provider
            .prepare(&mut outgoing, &self.env)
            .map_err(Failure::Unsendable)?;
        // Headers the adapter added (a signature, a bearer token) are as secret as any other.
        for (name, value) in &outgoing.headers {
            self.redactor
                .register_from(SecretSource::Header { name, value });
        }
        Ok(outgoing)
    }

    /// The reqwest request for `outgoing`. A header HTTP forbids (a line break in its value, a
    /// space in its name) can never be sent: it fails at once, naming the header, not its value.
    fn build(
        &self,
        method: &Method,
        outgoing: &OutgoingRequest,
    ) -> Result<reqwest::Request, Failure> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &outgoing.headers {
            let (name, value) = header_pair(name, value).map_err(Failure::Unsendable)?;
            headers.append(name, value);
        }
        let mut builder = self
            .client
            .request(method.clone(), outgoing.url.as_str())
            .headers(headers);
        if let Some(body) = &outgoing.body {
            builder = builder.json(body);
        }
        builder.build().map_err(|e| {
            Failure::Unsendable(format!(
                "the request cannot be built: {}",
                self.redactor.redact(&describe_error(&e))
            ))
        })
    }

    /// Send one request and read its answer: its headers, then (unless it is a redirect) its body,
    /// up to [`MAX_BODY_BYTES`].
    async fn exchange(
        &self,
        built: reqwest::Request,
        hop: &Hop,
        policy: &BackoffPolicy,
        attempt: u32,
    ) -> Result<Reply, Failure> {
        let event = |status| Event::Http {
            method: hop.method.to_string(),
            url: self.redactor.redact(hop.url.as_str()),
            status,
            attempt,
        };
        let mut response = match self.client.execute(built).await {
            Ok(response) => response,
            Err(e) => {
                self.progress.event(event(None));
                return Err(Failure::Transport {
                    message: self.redactor.redact(&describe_error(&e)),
                    not_sent: e.is_connect(),
                });
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if policy.is_transient(status)
            && let Some(wait) = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
                .filter(|w| *w <= policy.max_retry_after)
        {
            // Closed before the body is read: no request leaves once this answer is known.
            self.gate.close_for(wait);
        }
        self.progress.event(event(Some(status)));
        if matches!(status, 301 | 302 | 303 | 307 | 308)
            && let Some(location) = headers.get("location")
        {
            let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
            return Ok(Reply::Redirect { status, location });
        }
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(Failure::Transport {
                            message: format!(
                                "HTTP {status}: the answer is larger than {MAX_BODY_BYTES} bytes"
                            ),
                            not_sent: false,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure::Transport {
                        message: format!(
                            "HTTP {status}: the answer broke off: {}",
                            self.redactor.redact(&describe_error(&e))
                        ),
                        not_sent: false,
                    });
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = if text.trim().is_empty() {
            None
        } else {
            serde_json::from_str(&text).ok()
        };
        Ok(Reply::Answer(Response {
            status,
            headers,
            text,
            json,
        }))
    }

    /// The next hop of a redirect, or why it is not followed: a request that changes anything
    /// follows none (it is not sent again, to the same place or another); a read follows one to
    /// its own origin, or to another if the playbook allows it (then with no header).
    fn redirect(
        &self,
        from: &Hop,
        effect: Effect,
        status: u16,
        location: &str,
        hops: usize,
    ) -> Result<Hop, Failure> {
        // Redacted before it is cut: a Location echoing a secret leaves no prefix of it.
        let shown = self.redactor.excerpt(location, 300);
        let refuse = |why: String| Failure::Refused {
            message: format!(
                "HTTP {status}: the provider redirected the request to {shown}; {why}"
            ),
            // A 303 answers a request that was carried out, with where to read its result.
            maybe_carried_out: status == 303,
        };
        if effect == Effect::Mutate {
            return Err(refuse(match status {
                303 => "runbook does not follow redirects of requests that change anything, and the provider may have carried it out".into(),
                _ => "runbook does not follow redirects of requests that change anything, so it was not sent again".into(),
            }));
        }
        let Ok(target) = from.url.join(location) else {
            return Err(refuse("that is not a URL".into()));
        };
        if !matches!(target.scheme(), "http" | "https") {
            return Err(refuse("runbook follows only http and https".into()));
        }
        let same_origin = target.origin() == from.url.origin() && from.own_origin;
        match self.redirects {
            Redirects::None => {
                return Err(refuse(
                    "the connection follows no redirects (`connection.redirects: none`)".into(),
                ));
            }
            Redirects::SameOrigin if !same_origin => {
                return Err(refuse(
                    "runbook follows redirects only to the API's own scheme, host and port (`connection.redirects: any` follows it, without any header)".into(),
                ));
            }
            _ => {}
        }
        if hops >= MAX_REDIRECTS {
            return Err(refuse(format!(
                "runbook follows at most {MAX_REDIRECTS} redirects"
            )));
        }
        // 303, and 301/302 after a POST (as every client does), mean "read it there": a GET.
        let to_get = status == 303
            || (matches!(status, 301 | 302) && !matches!(from.method, Method::GET | Method::HEAD));
        Ok(Hop {
            method: if to_get {
                Method::GET
            } else {
                from.method.clone()
            },
            body: if to_get { None } else { from.body.clone() },
            url: target,
            own_origin: same_origin,
        })
    }
}

/// "1 attempt", "3 attempts".
fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".into()
    } else {
        format!("{n} attempts")
    }
}

/// Where one hop of a request goes.
struct Hop {
    method: Method,
    url: url::Url,
    body: Option<Value>,
    /// Still on the origin the request was made for: its headers may go.
    own_origin: bool,
}

/// What one hop brought back.
enum Reply {
    Answer(Response),
    Redirect { status: u16, location: String },
}

/// A header as HTTP can carry it, or why it cannot be sent (naming the header, never the value).
pub fn header_pair(
    name: &str,
    value: &str,
) -> Result<(reqwest::header::HeaderName, reqwest::header::HeaderValue), String> {
    let header_name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        format!(
            "the header name {name:?} cannot be sent: HTTP allows only letters, digits and !#$%&'*+-.^_`|~ in a header name"
        )
    })?;
    let header_value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
        format!(
            "the header {name} cannot be sent: its value holds a line break or another control character HTTP forbids; check the value it is built from"
        )
    })?;
    Ok((header_name, header_value))
}

/// Why an attempt brought no answer to act on.
enum Failure {
    /// Not sent: a throttled answer closed the gate after this request's turn came; it waits
    /// its turn again.
    GateClosed,
    /// The run was stopped: before the request was written, or while it was in flight (and, for
    /// a mutating one, past [`IN_FLIGHT_GRACE`]).
    Interrupted { in_flight: bool },
    /// The request can never be sent as it is (a header HTTP forbids); nothing left runbook.
    Unsendable(String),
    /// An answer runbook does not act on (a redirect it does not follow); not tried again.
    Refused {
        message: String,
        /// The answer says the request was carried out (a 303 to a mutating request).
        maybe_carried_out: bool,
    },
    /// No usable answer: a failed connection, a timeout, a broken or oversized body.
    Transport {
        message: String,
        /// The request never reached the provider (a refused or failed connection).
        not_sent: bool,
    },
}

/// reqwest's error with its causes, on one line.
fn describe_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
