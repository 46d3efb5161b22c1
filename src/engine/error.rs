//! The run-time errors of the interpreter, typed: why a step stops a run ([`Abort`]) and where
//! that step is written ([`StepError`]), so that what a person reads names the step and the
//! playbook line, as a compile error does.
//!
//! Invariants: an [`Abort`]'s text is exactly what the report's `aborted` says after `step NAME: `
//! (reports and tests rely on it); every text here passes the redactor before it is shown.

use std::fmt;

use crate::diagnostic::Position;
use crate::secrets::Redactor;

/// Why a step stops the whole run: no new request is sent after it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Abort {
    /// The API refused the connection's credentials (401/403, or the adapter's verdict).
    #[error("{0}")]
    CredentialsRefused(String),
    /// A guard tripped: `max_items`, `max_pages`, a listing shorter than its stated total, the
    /// blast-radius guards or the circuit breaker. The text names the setting and how to go past it.
    #[error("{0}")]
    Guard(String),
    /// The ledger could not record a request before it left: without it `--resume` cannot keep
    /// its promise.
    #[error("{0}")]
    LedgerUnusable(String),
    /// The server has no such route (a framework's own 404): every item would get the same answer.
    #[error("{0}")]
    NoSuchRoute(String),
    /// SIGINT or SIGTERM asked the run to stop.
    #[error("interrupted")]
    Interrupted,
    /// A template turned out unrenderable whatever the data (out of fuel, recursion too deep).
    #[error("not run: the playbook is invalid: a template cannot be rendered: {0}")]
    TemplateBroken(String),
}

impl Abort {
    /// The same reason with its text passed through `redactor`.
    pub(crate) fn redacted(self, redactor: &Redactor) -> Abort {
        match self {
            Abort::CredentialsRefused(m) => Abort::CredentialsRefused(redactor.redact(&m)),
            Abort::Guard(m) => Abort::Guard(redactor.redact(&m)),
            Abort::LedgerUnusable(m) => Abort::LedgerUnusable(redactor.redact(&m)),
            Abort::NoSuchRoute(m) => Abort::NoSuchRoute(redactor.redact(&m)),
            Abort::Interrupted => Abort::Interrupted,
            Abort::TemplateBroken(m) => Abort::TemplateBroken(redactor.redact(&m)),
        }
    }
}

/// A step that stopped the run, with where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    /// The step's index in the plan (0-based; shown 1-based).
    pub index: usize,
    /// The step's name (its `name:`, or its kind).
    pub name: String,
    /// The playbook file as it was given.
    pub file: String,
    /// Where the step starts in that file, when known.
    pub position: Option<Position>,
    /// Why it stopped the run.
    pub kind: Abort,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} ({}) at {}",
            self.index + 1,
            self.name,
            self.file
        )?;
        if let Some(p) = self.position {
            write!(f, ":{}", p.line)?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}
