//! The ledger's errors: one kind for a file that cannot serve as the ledger (said once, with its
//! path, what is wrong and what to do), one for a statement that failed on a ledger that opened.

use std::path::PathBuf;

/// What went wrong with the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The file cannot serve as the ledger (not SQLite, damaged, another schema, read-only, a
    /// directory, locked too long).
    #[error("the ledger {} cannot be used: {what}; {fix}", path.display())]
    Unusable {
        path: PathBuf,
        what: String,
        fix: String,
    },
    /// A statement failed on a ledger that opened.
    #[error("ledger: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The thread that writes the run's records is gone (it could not start, or stopped).
    #[error("ledger: its writer thread stopped, so nothing more can be recorded")]
    WriterStopped,
}

/// Callers that carry errors as text (a report's error list, a run's abort reason) take the message.
impl From<LedgerError> for String {
    fn from(e: LedgerError) -> String {
        e.to_string()
    }
}
