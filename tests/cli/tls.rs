//! HTTPS: a provider on 127.0.0.1 behind TLS, its certificate signed by a test CA
//! (`tests/cli/tls/`, valid until 2126). runbook verifies it against the platform's store, which
//! `SSL_CERT_FILE` names here; a provider offering HTTP/2 (ALPN `h2`) is spoken to in HTTP/2, one
//! offering only HTTP/1.1 in that. Without the CA the connection is refused before anything is
//! sent.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, Version};
use axum::routing::{get, post};
use serde_json::json;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer, pki_types::pem::PemObject};

use crate::{Ran, Runbook, playbook, repo_path, runtime};

/// Accepts TCP connections and completes each TLS handshake before handing it to axum.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses the certificate ends its handshake: wait for the next.
            if let Ok(tls) = self.tls.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A provider on https://127.0.0.1:PORT offering `alpn`; what it saw: requests and the HTTP
/// version of each.
struct Provider {
    url: String,
    seen: Arc<std::sync::Mutex<Vec<(String, Version)>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn provider(alpn: &[&[u8]]) -> Provider {
    let cert =
        rustls::pki_types::CertificateDer::pem_file_iter(repo_path("tests/cli/tls/server.pem"))
            .expect("the test certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("the test certificate parses");
    let key =
        PrivateKeyDer::from_pem_file(repo_path("tests/cli/tls/server.key")).expect("the test key");
    let crypto = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(cert, key)
        .expect("a server configuration");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let journal = Arc::clone(&seen);
    let app = Router::new()
        .route(
            "/tasks",
            get(|| async { axum::Json(json!({"tasks": [{"id": "t1", "status": "failed"}]})) }),
        )
        .route(
            "/tasks/{id}/retry",
            post(|| async { StatusCode::NO_CONTENT }),
        )
        .layer(axum::middleware::from_fn(
            move |req: Request, next: axum::middleware::Next| {
                let journal = Arc::clone(&journal);
                async move {
                    journal.lock().unwrap_or_else(|e| e.into_inner()).push((
                        format!("{} {}", req.method(), req.uri().path()),
                        req.version(),
                    ));
                    next.run(req).await
                }
            },
        ));
    let (url, server) = runtime().block_on(async move {
        let tcp = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1");
        let port = tcp.local_addr().expect("a local address").port();
        let listener = TlsListener {
            tcp,
            tls: TlsAcceptor::from(Arc::new(config)),
        };
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("https://127.0.0.1:{port}"), server)
    });
    Provider { url, seen, server }
}

const STEPS: &str = "  - fetch:\n      request: {path: /tasks}\n      items: \"$.tasks[*]\"\n  - retry:\n      request: {method: POST, path: \"/tasks/{{ task.id | urlencode }}/retry\"}\n";

fn seen(provider: &Provider) -> Vec<(String, Version)> {
    provider
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// The test playbook against `api`, the test CA the store (`SSL_CERT_FILE`); it must succeed.
fn play_trusting_the_test_ca(api: &Provider) -> Ran {
    let ca = repo_path("tests/cli/tls/ca.pem");
    let ran = Runbook::play(&playbook(STEPS))
        .env("API_URL", &api.url)
        .env("SSL_CERT_FILE", &ca.to_string_lossy())
        .run();
    ran.expect_code(0);
    ran
}

#[test]
fn a_provider_offering_http2_is_retried_over_http2_after_its_certificate_is_verified() {
    let api = provider(&[b"h2", b"http/1.1"]);
    let ran = play_trusting_the_test_ca(&api);
    assert_eq!(ran.item("t1")["outcome"], "retried", "{}", ran.stderr);
    assert_eq!(
        seen(&api),
        vec![
            ("GET /tasks".to_string(), Version::HTTP_2),
            ("POST /tasks/t1/retry".to_string(), Version::HTTP_2),
        ]
    );
}

#[test]
fn a_provider_offering_only_http1_is_spoken_to_in_http1() {
    let api = provider(&[b"http/1.1"]);
    play_trusting_the_test_ca(&api);
    let versions: Vec<Version> = seen(&api).into_iter().map(|(_, v)| v).collect();
    assert_eq!(versions, vec![Version::HTTP_11, Version::HTTP_11]);
}

#[test]
fn a_certificate_the_platform_does_not_trust_stops_the_fetch_before_any_request() {
    let api = provider(&[b"h2", b"http/1.1"]);
    // No SSL_CERT_FILE: the system's own store, which does not hold the test CA.
    let ran = Runbook::play(&playbook(STEPS))
        .env("API_URL", &api.url)
        .run();
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    assert!(seen(&api).is_empty(), "nothing was sent: {:?}", seen(&api));
    assert!(
        ran.stderr.contains("certificate"),
        "the refusal says why: {}",
        ran.stderr
    );
}
