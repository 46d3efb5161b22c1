//! `runbook sandbox`: the emulated provider APIs, served until interrupted.

use super::CommandError;
use crate::exit;
use crate::sandbox::SandboxConfig;

/// `runbook sandbox`: serve the emulated APIs until interrupted. A configuration the sandbox
/// refuses (a `--tasks` for an API it does not serve) is the command line's fault: exit 2.
pub(crate) async fn sandbox(config: SandboxConfig) -> Result<i32, CommandError> {
    crate::sandbox::serve_forever(config)
        .await
        .map(|()| exit::OK)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => CommandError::Invalid(format!("sandbox: {e}")),
            _ => CommandError::Aborted(format!("sandbox: {e}")),
        })
}
