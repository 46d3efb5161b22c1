//! One request on the wire and its answer read: hyper's client directly, reqwest only for a request
//! a proxy takes.
//!
//! Written over hyper rather than through reqwest for the cost per request. reqwest parses each
//! request's URL twice more (its redirect layer runs even with redirects off) and passes every
//! request through its tower stack (redirects, retries, timeouts) whose work runbook does itself
//! (`redirect`, `send`): 37,900 instructions per retry of its 152,000 (callgrind, 5,000 retries
//! against the sandbox; bench/notes.md, "Retry throughput: session 16"), on the thread every
//! request waits for. Here a request's URL becomes an `http::Uri` once, and one deadline bounds
//! the whole exchange.
//!
//! What reqwest gave and this keeps:
//! - TLS: rustls on aws-lc-rs with the platform's verifier, ALPN `h2` then `http/1.1` (what
//!   reqwest's `rustls` feature builds), pooled connections, `TCP_NODELAY` (tests/cli/tls.rs).
//! - Proxies from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, read as
//!   curl reads them): hyper-util's matcher, the one reqwest uses, decides per request, and a
//!   request it sends to a proxy goes through reqwest, which tunnels and authenticates to the
//!   proxy. A request through a proxy pays the proxy's hop anyway.
//! - The default headers `user-agent` and `accept: */*`, `content-type: application/json` for a
//!   JSON body, each only when the request has none; a URL's `user:password@` as basic
//!   authorization (unless the request has its own) and never sent in the request line.
//! - Error classes: [`WireError::not_sent`] only when the connection could not be made (nothing
//!   reached the provider: the never-send-twice invariant rests on it), a timeout otherwise said.
//!
//! Invariants:
//! - The time allowed covers the whole exchange: connecting, writing, the answer's headers and
//!   its body ([`Wire::deadline`]).
//! - A request the pool found its connection closed for before writing it is written once on a
//!   new one (hyper-util's rule, as reqwest's): nothing was sent on the first.

use std::error::Error as _;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use http::{Method, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

const AGENT: &str = concat!("runbook/", env!("CARGO_PKG_VERSION"));

/// How long an idle pooled connection is kept (reqwest's default).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// The run's connections: see the module's documentation.
pub(super) struct Wire {
    direct: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `None` when the environment names no proxy: then no request needs the matcher's look at
    /// its host (640 instructions a request, callgrind).
    proxies: Option<Matcher>,
    /// Built at the first request a proxy takes: building it loads the platform's certificates
    /// again (about 17 million instructions), which a run without a proxy need not pay.
    proxied: OnceLock<Result<reqwest::Client, String>>,
    connect_timeout: Duration,
    timeout: Duration,
}

/// Why the connections could not be set up (the platform's certificates): nothing has been sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WireSetupError(#[from] rustls::Error);

/// A request as it will be written.
pub(super) struct Outbound {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

/// An answer whose headers are read; its body is read by [`Body::chunk`].
pub(super) struct Answered {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Body,
}

/// The body of an answer, read piece by piece.
pub(super) enum Body {
    Direct(hyper::body::Incoming),
    Proxied(reqwest::Response),
}

/// Why a request got no answer, or its answer broke off.
#[derive(Debug)]
pub(super) struct WireError {
    /// The connection could not be made: nothing reached the provider.
    pub not_sent: bool,
    /// What happened, with its causes, on one line (not yet redacted).
    pub text: String,
}

impl Wire {
    /// Connections that connect within `connect_timeout`; [`Wire::deadline`] is `timeout`.
    pub(super) fn new(
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Wire, WireSetupError> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(tcp);
        let direct = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Ok(Wire {
            direct,
            proxies: proxy_named().then(Matcher::from_system),
            proxied: OnceLock::new(),
            connect_timeout,
            timeout,
        })
    }

    /// When an exchange begun now must have ended, its body read.
    pub(super) fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.timeout
    }

    /// The time allowed for one whole exchange.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Write `request` and read its answer's headers.
    pub(super) async fn send(&self, request: Outbound) -> Result<Answered, WireError> {
        if (self.proxies.as_ref()).is_some_and(|m| m.intercept(&request.uri).is_some()) {
            return self.send_proxied(request).await;
        }
        let mut built = http::Request::new(Full::new(request.body.unwrap_or_default()));
        *built.method_mut() = request.method;
        *built.uri_mut() = request.uri;
        *built.headers_mut() = request.headers;
        match self.direct.request(built).await {
            Ok(response) => {
                let (head, body) = response.into_parts();
                Ok(Answered {
                    status: head.status.as_u16(),
                    headers: head.headers,
                    body: Body::Direct(body),
                })
            }
            Err(e) => Err(WireError {
                not_sent: e.is_connect(),
                text: describe(kind(e.is_connect()), Some(&e)),
            }),
        }
    }

    async fn send_proxied(&self, request: Outbound) -> Result<Answered, WireError> {
        let proxied = self.proxied.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .user_agent(AGENT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| describe("cannot start the client for the proxy", e.source()))
        });
        let proxied = proxied.as_ref().map_err(|text| WireError {
            not_sent: true,
            text: text.clone(),
        })?;
        let url = request.uri.to_string();
        let mut builder = proxied
            .request(request.method, url)
            .headers(request.headers);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        match builder.send().await {
            Ok(mut response) => Ok(Answered {
                status: response.status().as_u16(),
                headers: std::mem::take(response.headers_mut()),
                body: Body::Proxied(response),
            }),
            // reqwest's own line names the URL: only its causes are told.
            Err(e) => Err(WireError {
                not_sent: e.is_connect(),
                text: describe(kind(e.is_connect()), e.source()),
            }),
        }
    }
}

impl Body {
    /// The next piece of the body; `None` at its end.
    pub(super) async fn chunk(&mut self) -> Result<Option<Bytes>, WireError> {
        let broken = |text| WireError {
            not_sent: false,
            text,
        };
        match self {
            Body::Direct(body) => loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                        // Trailers: nothing runbook reads.
                    }
                    Some(Err(e)) => return Err(broken(describe(kind(false), Some(&e)))),
                }
            },
            Body::Proxied(response) => response
                .chunk()
                .await
                .map_err(|e| broken(describe(kind(e.is_connect()), e.source()))),
        }
    }
}

/// A request's headers as written: `headers`, then the defaults it lacks (see the module's
/// documentation); `url`'s credentials as basic authorization. The URI is `url` without them.
pub(super) fn outbound(
    method: Method,
    url: &url::Url,
    mut headers: HeaderMap,
    body: Option<Vec<u8>>,
) -> Result<Outbound, http::Error> {
    let uri = if url.username().is_empty() && url.password().is_none() {
        Uri::try_from(url.as_str())?
    } else {
        let mut bare = url.clone();
        let user = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy();
        let password = url
            .password()
            .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy());
        if !headers.contains_key(AUTHORIZATION) {
            let pair = format!("{user}:{}", password.as_deref().unwrap_or(""));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            let mut value = HeaderValue::try_from(format!("Basic {encoded}"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        // Neither can fail for a URL with a host, the only kind a request is made for.
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        Uri::try_from(bare.as_str())?
    };
    if body.is_some() && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
    }
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    }
    Ok(Outbound {
        method,
        uri,
        headers,
        body: body.map(Bytes::from),
    })
}

/// Whether the environment names a proxy (set and not empty) in one of the variables the matcher
/// reads it from; `NO_PROXY` alone sends nothing through one.
fn proxy_named() -> bool {
    const NAMES: [&str; 6] = [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ];
    NAMES
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

fn kind(connect: bool) -> &'static str {
    if connect {
        "could not connect"
    } else {
        "request failed"
    }
}

/// `kind`, then the error `from` and its causes, on one line.
fn describe(kind: &str, from: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut text = kind.to_string();
    let mut source = from;
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).expect("a test URL")
    }

    #[test]
    fn a_request_gets_each_default_header_it_lacks_and_keeps_its_own() {
        let mut own = HeaderMap::new();
        own.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let out = outbound(
            Method::POST,
            &url("http://h/a?b=1"),
            own,
            Some(b"{}".to_vec()),
        )
        .expect("buildable");
        assert_eq!(out.uri, "http://h/a?b=1");
        assert_eq!(out.headers[ACCEPT], "application/json");
        assert_eq!(out.headers[USER_AGENT], AGENT);
        assert_eq!(out.headers[CONTENT_TYPE], "application/json");
        assert_eq!(out.body.as_deref(), Some(&b"{}"[..]));

        let mut typed = HeaderMap::new();
        typed.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let out = outbound(Method::GET, &url("https://h/"), typed, None).expect("buildable");
        assert_eq!(out.headers[CONTENT_TYPE], "text/plain");
        assert_eq!(out.headers[ACCEPT], "*/*");
        assert!(out.body.is_none());
    }

    #[test]
    fn credentials_in_a_url_become_basic_authorization_and_leave_the_request_line() {
        let out = outbound(
            Method::GET,
            &url("http://ops:p%40ss@h:8080/x"),
            HeaderMap::new(),
            None,
        )
        .expect("buildable");
        assert_eq!(out.uri, "http://h:8080/x");
        // base64 of `ops:p@ss`, the password decoded.
        assert_eq!(out.headers[AUTHORIZATION], "Basic b3BzOnBAc3M=");
        assert!(out.headers[AUTHORIZATION].is_sensitive());

        let mut own = HeaderMap::new();
        own.insert(AUTHORIZATION, HeaderValue::from_static("Bearer k"));
        let out = outbound(Method::GET, &url("http://ops@h/x"), own, None).expect("buildable");
        assert_eq!(out.uri, "http://h/x");
        assert_eq!(
            out.headers[AUTHORIZATION], "Bearer k",
            "the request's own wins"
        );
    }

    #[test]
    fn an_error_is_told_with_its_causes_on_one_line() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(
            describe("could not connect", Some(&outer)),
            "could not connect: refused"
        );
        assert_eq!(describe("request failed", None), "request failed");
    }
}
