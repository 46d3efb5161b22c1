//! `runbook sandbox`: the emulated provider APIs, served until interrupted.

use crate::exit;
use crate::sandbox::SandboxConfig;

/// `runbook sandbox`: serve the emulated APIs until interrupted.
pub async fn sandbox(config: SandboxConfig) -> i32 {
    match crate::sandbox::serve_forever(config).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: sandbox: {e}");
            exit::ABORTED
        }
    }
}
