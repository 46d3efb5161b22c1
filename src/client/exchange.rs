//! One attempt on the wire: the request prepared by the adapter (signatures) and built (a header
//! HTTP forbids fails it at once), a last look at the gate and the stop, the answer's headers and
//! then its body read up to [`MAX_BODY_BYTES`], redirects followed hop by hop.
//!
//! `Retry-After` is read here, once, as soon as the headers are: a throttled status closes the gate
//! before the body is read, and the send loop is handed the same wait with the answer.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method};
use serde_json::Value;

use super::backoff::{BackoffPolicy, parse_retry_after};
use super::wire::{self, Answered, Outbound};
use super::{Effect, HttpClient, IN_FLIGHT_GRACE, MAX_BODY_BYTES, Request, Response, header_pair};
use crate::progress::Event;
use crate::providers::OutgoingRequest;
use crate::secrets::SecretSource;

impl HttpClient {
    /// One attempt: prepare, a last look at the gate and the stop, send, and follow the redirects a
    /// read may follow. The gate closes as soon as a throttled answer's headers are read.
    pub(super) async fn attempt(
        &self,
        request: &Request,
        effect: Effect,
        policy: &BackoffPolicy,
        attempt: u32,
    ) -> Result<Answer, Failure> {
        let mut hop = Hop {
            method: request.method.clone(),
            url: request.url.clone(),
            body: request.body.clone(),
            own_origin: true,
        };
        let mut hops = 0;
        loop {
            let outgoing = self.outgoing(request, &hop)?;
            let built = self.build(&hop.method, &hop.url, &outgoing)?;
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
                Reply::Answer(answer) => return Ok(answer),
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
            .map_err(|e| Failure::Unsendable(e.to_string()))?;
        // Headers the adapter added (a signature, a bearer token) are as secret as any other.
        for (name, value) in &outgoing.headers {
            self.redactor
                .register_from(SecretSource::Header { name, value });
        }
        Ok(outgoing)
    }

    /// The request for `outgoing` as it will be written. A header HTTP forbids (a line break in its
    /// value, a space in its name) can never be sent: it fails at once, naming the header, not
    /// its value.
    fn build(
        &self,
        method: &Method,
        hop_url: &url::Url,
        outgoing: &OutgoingRequest,
    ) -> Result<Outbound, Failure> {
        let mut headers = HeaderMap::with_capacity(outgoing.headers.len() + 4);
        for (name, value) in &outgoing.headers {
            let (name, value) =
                header_pair(name, value).map_err(|e| Failure::Unsendable(e.to_string()))?;
            headers.append(name, value);
        }
        let unbuildable = |why: String| {
            Failure::Unsendable(format!(
                "the request cannot be built: {}",
                self.redactor.redact(&why)
            ))
        };
        // The hop's URL is already parsed: it is parsed again only if the adapter changed it.
        let changed;
        let url = if outgoing.url == hop_url.as_str() {
            hop_url
        } else {
            changed = url::Url::parse(&outgoing.url)
                .map_err(|e| unbuildable(format!("{e}: {}", outgoing.url)))?;
            &changed
        };
        let body = match &outgoing.body {
            Some(body) => Some(serde_json::to_vec(body).map_err(|e| unbuildable(e.to_string()))?),
            None => None,
        };
        wire::outbound(method.clone(), url, headers, body).map_err(|e| unbuildable(e.to_string()))
    }

    /// Send one request and read its answer: its headers, then (unless it is a redirect) its body,
    /// up to [`MAX_BODY_BYTES`].
    async fn exchange(
        &self,
        built: Outbound,
        hop: &Hop,
        policy: &BackoffPolicy,
        attempt: u32,
    ) -> Result<Reply, Failure> {
        // Built only for a display that shows it: the redacted URL is a copy per request.
        let shown = self.progress.shows_requests();
        let event = |status| {
            if shown {
                self.progress.event(Event::Http {
                    method: hop.method.to_string(),
                    url: self.redactor.redact(hop.url.as_str()),
                    status,
                    attempt,
                });
            }
        };
        // One deadline for the whole exchange: connecting, writing, the headers, the body.
        let deadline = self.wire.deadline();
        let timed_out = || Failure::Transport {
            message: format!(
                "timed out: no whole answer within {}",
                crate::units::Span(self.wire.timeout())
            ),
            not_sent: false,
        };
        let answered = match tokio::time::timeout_at(deadline, self.wire.send(built)).await {
            Ok(Ok(answered)) => answered,
            Ok(Err(e)) => {
                event(None);
                return Err(Failure::Transport {
                    message: self.redactor.redact(&e.text),
                    not_sent: e.not_sent,
                });
            }
            Err(_) => {
                event(None);
                return Err(timed_out());
            }
        };
        let Answered {
            status,
            headers,
            body: mut response,
        } = answered;
        // Read once, here: the send loop acts on the same wait.
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        if policy.is_transient(status)
            && let Some(wait) = retry_after.filter(|w| *w <= policy.max_retry_after)
        {
            // Closed before the body is read: no request leaves once this answer is known.
            self.gate.close_for(wait);
        }
        event(Some(status));
        if matches!(status, 301 | 302 | 303 | 307 | 308)
            && let Some(location) = headers.get("location")
        {
            let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
            return Ok(Reply::Redirect { status, location });
        }
        let mut bytes = Vec::new();
        loop {
            let Ok(chunk) = tokio::time::timeout_at(deadline, response.chunk()).await else {
                return Err(timed_out());
            };
            match chunk {
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
                            self.redactor.redact(&e.text)
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
        Ok(Reply::Answer(Answer {
            response: Response {
                status,
                headers,
                text,
                json,
            },
            retry_after,
        }))
    }
}

/// Where one hop of a request goes.
pub(super) struct Hop {
    pub(super) method: Method,
    pub(super) url: url::Url,
    pub(super) body: Option<Value>,
    /// Still on the origin the request was made for: its headers may go.
    pub(super) own_origin: bool,
}

/// An answer read whole, with the wait its `Retry-After` asks for (`Duration::MAX` past any clock).
pub(super) struct Answer {
    pub(super) response: Response,
    pub(super) retry_after: Option<Duration>,
}

/// What one hop brought back.
enum Reply {
    Answer(Answer),
    Redirect { status: u16, location: String },
}

/// Why an attempt brought no answer to act on.
pub(super) enum Failure {
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
