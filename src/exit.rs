//! The process exit codes, named in one place. The README documents them; scripts and cron rely on them.

/// Every selected item was handled (or there was nothing to do).
pub const OK: i32 = 0;
/// The run finished, but some items failed (or a fetch failed).
pub const SOME_FAILED: i32 = 1;
/// The playbook or the command line is invalid; nothing was sent.
pub const INVALID: i32 = 2;
/// The run was aborted: an authentication failure, a guard, or an interruption.
pub const ABORTED: i32 = 3;
