//! The one HTTP client of a run. Every request goes through [`HttpClient::send`]: the `Retry-After`
//! gate, the rate limits, the adapter's per-attempt preparation (signatures), a connect and a total
//! timeout, a cap on the body read, and transient failures retried with backoff.
//!
//! A request that mutates (a retry) is never sent twice when its first sending may have been carried
//! out: after a connection error it is resent (nothing reached the provider), after a timeout or a
//! broken answer it is not. 429, 502, 503 and 504 are answers: the provider did nothing.

pub mod backoff;
pub mod limiter;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::Method;
use serde_json::Value;

use crate::progress::{Event, Progress};
use crate::providers::{OutgoingRequest, Provider, Verdict};
use crate::secrets::{EnvSource, Redactor};
use backoff::{BackoffPolicy, parse_retry_after};
use limiter::{Gate, RateLimiter};

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
    /// Attempts made (at least 1).
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
}

/// Whether a request changes anything at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Read,
    Mutate,
}

pub struct HttpClient {
    client: reqwest::Client,
    provider: Arc<dyn Provider>,
    env: Arc<EnvSource>,
    redactor: Redactor,
    progress: Arc<dyn Progress>,
    gate: Gate,
    rate: Option<RateLimiter>,
}

impl HttpClient {
    pub fn new(
        provider: Arc<dyn Provider>,
        env: Arc<EnvSource>,
        redactor: Redactor,
        progress: Arc<dyn Progress>,
        rate: Option<crate::units::Rate>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<HttpClient, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        // An adapter may use a credential without a template ever reading it (GeeLark signs with
        // its key): it is redacted all the same.
        for var in provider.env_vars() {
            if let Some(value) = env
                .get(var.name)
                .filter(|_| crate::secrets::is_credential_name(var.name))
            {
                redactor.register(value);
            }
        }
        Ok(HttpClient {
            client,
            provider,
            env,
            redactor,
            progress,
            gate: Gate::default(),
            rate: rate.map(RateLimiter::new),
        })
    }

    /// Wait for this request's turn: the `Retry-After` gate, the client's rate and the step's.
    pub async fn pace(&self, limiter: Option<&RateLimiter>) {
        // A Retry-After may arrive while this request waits for its rate slot: then it waits
        // out the gate and takes a new slot, so the workers held back do not all go at once.
        loop {
            self.gate.wait().await;
            if let Some(rate) = &self.rate {
                rate.acquire().await;
            }
            if let Some(limiter) = limiter {
                limiter.acquire().await;
            }
            if self.gate.is_open().await {
                break;
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
        self.pace(limiter).await;
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
        loop {
            attempt += 1;
            if attempt > 1 {
                self.pace(limiter).await;
            }
            let outcome = self.attempt(request).await;
            let last = attempt >= policy.attempts;
            match outcome {
                Ok(response) => {
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
                    self.progress.event(Event::Http {
                        method: request.method.to_string(),
                        url: self.redactor.redact(request.url.as_str()),
                        status: Some(response.status),
                        attempt,
                    });
                    let Some(reason) = transient else {
                        return Exchange {
                            response: Some(response),
                            verdict,
                            attempts: attempt,
                            error: None,
                            ambiguous: false,
                        };
                    };
                    if last {
                        let error = Some(format!("{reason}, still after {attempt} attempts"));
                        return Exchange {
                            response: Some(response),
                            verdict,
                            attempts: attempt,
                            error,
                            ambiguous: false,
                        };
                    }
                    let asked = response
                        .header("retry-after")
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    let wait = match asked {
                        Some(wait) if wait > policy.max_retry_after => {
                            let error = Some(format!(
                                "{reason}: the provider asked to wait {}s (Retry-After), more than max_retry_after {}s",
                                wait.as_secs(),
                                policy.max_retry_after.as_secs()
                            ));
                            return Exchange {
                                response: Some(response),
                                verdict,
                                attempts: attempt,
                                error,
                                ambiguous: false,
                            };
                        }
                        Some(wait) => {
                            // Every worker waits: the provider's limit is shared, not per request.
                            self.gate.close_for(wait).await;
                            wait
                        }
                        None => policy.delay(attempt, rand::rng().random::<f64>()),
                    };
                    self.progress.event(Event::Backoff {
                        reason: reason.clone(),
                        wait,
                    });
                    tokio::time::sleep(wait).await;
                }
                Err(failure) => {
                    self.progress.event(Event::Http {
                        method: request.method.to_string(),
                        url: self.redactor.redact(request.url.as_str()),
                        status: None,
                        attempt,
                    });
                    let safe_to_resend = failure.not_sent || effect == Effect::Read;
                    if !safe_to_resend {
                        let error = format!(
                            "{}; the request may have been carried out, so it was not sent again",
                            failure.message
                        );
                        return Exchange {
                            ambiguous: true,
                            ..Exchange::without_answer(attempt, error)
                        };
                    }
                    if last {
                        let error = format!("{}, still after {attempt} attempts", failure.message);
                        return Exchange::without_answer(attempt, error);
                    }
                    let wait = policy.delay(attempt, rand::rng().random::<f64>());
                    self.progress.event(Event::Backoff {
                        reason: failure.message,
                        wait,
                    });
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(&self, request: &Request) -> Result<Response, Failure> {
        let mut outgoing = OutgoingRequest {
            method: request.method.to_string(),
            url: request.url.to_string(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        };
        self.provider
            .prepare(&mut outgoing, &self.env)
            .map_err(|e| Failure {
                message: e,
                not_sent: true,
            })?;
        // Headers the adapter added (a signature, a bearer token) are as secret as any other.
        for (name, value) in &outgoing.headers {
            if crate::secrets::is_sensitive_header(name) {
                self.redactor.register_header(value);
            }
        }
        let mut builder = self
            .client
            .request(request.method.clone(), outgoing.url.as_str());
        for (name, value) in &outgoing.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &outgoing.body {
            builder = builder.json(body);
        }
        let mut response = builder.send().await.map_err(|e| Failure {
            message: self.redactor.redact(&describe_error(&e)),
            not_sent: e.is_connect(),
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(Failure {
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
                    return Err(Failure {
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
        Ok(Response {
            status,
            headers,
            text,
            json,
        })
    }
}

struct Failure {
    message: String,
    /// The request never reached the provider (a refused or failed connection).
    not_sent: bool,
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
