//! `runbook sandbox`: the emulated provider APIs, served until interrupted.
//!
//! A port that is taken is said with its number and how to choose another, not as the bare
//! "Address already in use" of the system.

use super::CommandError;
use crate::exit;
use crate::sandbox::SandboxConfig;

/// `runbook sandbox`: serve the emulated APIs until interrupted. A configuration the sandbox
/// refuses (a `--tasks` for an API it does not serve) is the command line's fault: exit 2.
pub(crate) async fn sandbox(config: SandboxConfig) -> Result<i32, CommandError> {
    let port = config.port;
    crate::sandbox::serve_forever(config)
        .await
        .map(|()| exit::OK)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => CommandError::Invalid(format!("sandbox: {e}")),
            _ => CommandError::Aborted(format!("sandbox: {}", start_error(port, &e))),
        })
}

/// Why the sandbox could not start on `port`, with the fix when the port is taken.
fn start_error(port: u16, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "port {port} on 127.0.0.1 is taken (another runbook sandbox, or another server): choose another with --port N, or --port 0 for any free port"
        )
    } else {
        e.to_string()
    }
}
