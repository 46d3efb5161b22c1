//! `runbook sandbox`: the emulated provider APIs, served until interrupted.

use super::CommandError;
use crate::exit;
use crate::sandbox::SandboxConfig;

/// `runbook sandbox`: serve the emulated APIs until interrupted.
pub(crate) async fn sandbox(config: SandboxConfig) -> Result<i32, CommandError> {
    crate::sandbox::serve_forever(config)
        .await
        .map(|()| exit::OK)
        .map_err(|e| CommandError::Aborted(format!("sandbox: {e}")))
}
