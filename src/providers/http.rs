//! The generic `http` adapter: no defaults, no hooks. The playbook gives the base URL, headers, the
//! list and retry requests and the outcome rules.

use super::Provider;

#[derive(Debug)]
pub struct Http;

impl Provider for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn summary(&self) -> &'static str {
        "any HTTP API, configured entirely in the playbook"
    }
}
