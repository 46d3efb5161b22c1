//! In-process tests of the sandbox: each starts a server on port 0 and talks to it over HTTP.

mod beam;
mod control;
mod deepwork;
mod gate;
mod geelark;
mod herodotus;
mod http;
mod latency;
mod registry;
mod robustness;
mod scale;
mod settling;
mod skyvern;

use serde_json::Value;

use super::{Sandbox, SandboxConfig};

/// Every emulated API's public name, in the registry's order.
const APIS: [&str; 7] = [
    "http",
    "beam",
    "beam-prod",
    "deepwork",
    "herodotus",
    "geelark",
    "skyvern",
];

/// A sandbox with the given seed and fault rate.
async fn sandbox(seed: u64, faults: f64) -> Sandbox {
    Sandbox::start(SandboxConfig {
        seed,
        faults,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}

/// Status and JSON body of a response (`Value::Null` for an empty or non-JSON body).
async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body reads");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
