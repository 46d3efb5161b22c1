//! Emulated provider APIs on loopback, behind `runbook sandbox` and `play --sandbox`.
//! (Placeholder until the sandbox branch lands.)

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub port: u16,
    pub seed: u64,
    pub faults: f64,
    pub retry_after_secs: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            seed: 7,
            faults: 0.0,
            retry_after_secs: 1,
        }
    }
}

pub struct Sandbox;

impl Sandbox {
    pub async fn start(_config: SandboxConfig) -> std::io::Result<Sandbox> {
        Err(std::io::Error::other("not built yet"))
    }
    pub fn base_url(&self, _api: &str) -> Option<String> {
        None
    }
    pub fn credentials(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    pub async fn shutdown(self) {}
}

pub async fn serve_forever(_config: SandboxConfig) -> std::io::Result<()> {
    Err(std::io::Error::other("not built yet"))
}
