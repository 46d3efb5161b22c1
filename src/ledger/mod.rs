//! The run ledger: every run, every selected item and every mutating request, in an embedded SQLite
//! database (`.runbook/ledger.db` by default).
//!
//! Invariants:
//! - A mutating request's *intent* is committed before the request is sent, and its *result* after
//!   the answer, in separate transactions: a crash at any instant leaves, for each request, either
//!   no trace, or an intent without a result — "in flight", which `--resume` treats as possibly
//!   carried out (a request never sent may be in flight too: see the intents ahead, below).
//! - Nothing secret is stored: callers pass URLs and messages that went through the redactor.
//! - The database is in WAL mode; a process killed mid-write loses at most the transaction it was in.
//! - A file that cannot serve as the ledger (not SQLite, damaged, another schema, read-only, a
//!   directory) is refused when opened, with one message naming it and saying what to do; a file
//!   that is not SQLite is never touched.
//! - Lineage: a retry that creates new work (a `new_id`: Skyvern's new run) is a *link* from the
//!   retried id to the new one, written in the same transaction as the request's result. Links
//!   make chains (original → new → newer); a chain's *head* is its one id with no link out. An id
//!   with a link out is never retried again: its chain continues at the head.
//! - Schema changes are additive (`CREATE … IF NOT EXISTS`), so an older ledger opens as it is and
//!   gains the new tables; nothing is ever dropped. A ledger from before lineage gets its links
//!   from its runs' stored reports (each retried item's `new_id`) when it gains the `links` table.
//!
//! - A run's intents, answers, resolutions and withdrawals go through [`GroupCommit`]: one writer
//!   thread commits the writes of concurrent workers together, and an intent is still committed
//!   before its request leaves. An intent may be committed ahead of its request's turn (a retry
//!   step without a rate, eight per sending slot, at most 64, or `concurrency` if higher; such an
//!   intent may wait for a later commit while others are ahead of it): killed then, the run
//!   leaves it in flight, like a kill between an intent and its request; a run that stops before
//!   the turn came withdraws it (deletes its rows), leaving no trace of a request never sent.
//!
//! Rooms: `open` (refusing what cannot serve as the ledger), `schema` (tables and migration),
//! `checkpoint` (the thread that checkpoints the log off the writer's path), `runs`
//! (a run's row, its history, what it did for `--resume`), `items` (each request's intent and
//! result per item, retry budgets), `links` (lineage of retries into new work) and `group` (group
//! commit of a run's writes).

mod checkpoint;
mod error;
mod group;
mod items;
mod links;
mod open;
mod runs;
mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

pub use self::error::LedgerError;
pub(crate) use self::group::{GroupCommit, Needed, OwnedAnswer, Resolution};
use crate::report::ItemOutcome;

/// The ledger's default place, under the working directory.
pub const DEFAULT_PATH: &str = ".runbook/ledger.db";

#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    /// The checkpoint thread of a ledger opened to write, held for its `Drop`: dropped (its
    /// connection closed) before `conn`, so closing `conn` still checkpoints the rest and removes
    /// the log.
    checkpoints: Option<checkpoint::Checkpointer>,
    conn: Mutex<Connection>,
}

/// One run as `history` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub id: String,
    pub playbook: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub state: String,
    pub dry_run: bool,
    pub resumed_from: Option<String>,
    pub fetched: u64,
    pub selected: u64,
    pub retried: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The process exit code the run ended with: stored with the run's report (the code that
    /// report implies), written again if writing the report files changed it. `None` while it
    /// runs, for a run killed before its report was stored, and for runs recorded before ledgers
    /// kept it.
    pub exit_code: Option<i32>,
}

/// A mutating request about to be sent.
#[derive(Clone, Copy, Debug)]
pub struct Intent<'a> {
    pub run_id: &'a str,
    pub step: &'a str,
    pub provider: &'a str,
    pub item_ids: &'a [String],
    pub method: &'a str,
    /// Redacted.
    pub url: &'a str,
    pub at: &'a str,
}

/// A retry that created new work: `item_id`'s retry created `new_id`.
#[derive(Clone, Copy, Debug)]
pub struct Link<'a> {
    pub provider: &'a str,
    pub item_id: &'a str,
    pub new_id: &'a str,
}

/// Where an id stands in its chain of retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    /// The chain's ids, from the original to the head (the id itself included).
    pub chain: Vec<String>,
    /// The id's own retry into new work, if one was recorded: the chain continues there.
    pub next: Option<Retried>,
}

/// A recorded retry into new work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retried {
    pub new_id: String,
    /// The run that made it.
    pub run_id: String,
}

/// What a run already did to an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Past {
    /// A request got an answer; the outcome it was given.
    Done {
        outcome: ItemOutcome,
        message: Option<String>,
    },
    /// A request was about to be sent, or sent, and no answer was recorded.
    InFlight,
}

fn err(e: rusqlite::Error) -> LedgerError {
    LedgerError::Sql(e)
}

impl Ledger {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run's writes are done for now (its last step ended): copy the log into the database on
    /// the checkpoint thread while the caller renders the report, so that closing the ledger has
    /// only the report's pages left to copy and sync.
    pub fn checkpoint_soon(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.now();
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}
