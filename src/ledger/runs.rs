//! A run's row: opened, closed with its totals and report, listed by `history`, and what it (and
//! the runs it resumed) did to each item, for `--resume`.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::open::explain;
use super::{Ledger, LedgerError, Past, RunSummary, err};
use crate::report::ItemOutcome;

/// What one run did to each item, in the order it did it.
pub(super) const ITEMS_OF_RUN: &str = "SELECT ri.item_id, ri.outcome, ri.message FROM request_items ri JOIN requests r ON r.id = ri.request_id WHERE r.run_id = ?1 ORDER BY ri.rowid";

impl Ledger {
    pub fn start_run(
        &self,
        id: &str,
        playbook: &str,
        provider: &str,
        started_at: &str,
        dry_run: bool,
        resumed_from: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.conn()
            .execute(
                "INSERT INTO runs (id, playbook, provider, started_at, state, dry_run, resumed_from) VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)",
                params![id, playbook, provider, started_at, dry_run, resumed_from],
            )
            .map(|_| ())
            .map_err(|e| explain(&self.path, &e))
    }

    /// Close a run with its final state, counts, JSON report and the exit code that report implies
    /// (writing the report's files may change it: [`Ledger::record_exit_code`]).
    pub fn finish_run(
        &self,
        id: &str,
        state: &str,
        finished_at: &str,
        totals: [u64; 5],
        report: &str,
        exit_code: i32,
    ) -> Result<(), LedgerError> {
        let [fetched, selected, retried, skipped, failed] =
            totals.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        self.conn()
            .execute(
                "UPDATE runs SET state = ?2, finished_at = ?3, fetched = ?4, selected = ?5, retried = ?6, skipped = ?7, failed = ?8, report = ?9, exit_code = ?10 WHERE id = ?1",
                params![id, state, finished_at, fetched, selected, retried, skipped, failed, report, exit_code],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// Remember that the playbook file at `path` (canonical) is named `playbook`, so that
    /// `history FILE` finds its runs without reading the file again.
    pub fn record_playbook_file(
        &self,
        path: &str,
        playbook: &str,
        at: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .execute(
                "INSERT INTO playbook_files (path, playbook, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (path) DO UPDATE SET playbook = excluded.playbook, at = excluded.at",
                params![path, playbook, at],
            )
            .map(|_| ())
            .map_err(|e| super::open::explain(&self.path, &e))
    }

    /// The name the playbook file at `path` (canonical) had when a run of it last started; none if
    /// no run recorded it (or the ledger predates the record and is only read).
    pub fn playbook_of_file(&self, path: &str) -> Result<Option<String>, LedgerError> {
        let conn = self.conn();
        if !super::schema::table_exists(&conn, "playbook_files").map_err(err)? {
            return Ok(None);
        }
        conn.query_row(
            "SELECT playbook FROM playbook_files WHERE path = ?1",
            params![path],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)
    }

    /// Record the exit code run `id` ended with (after its reports were written), if it is not the
    /// one [`Ledger::finish_run`] stored.
    pub fn record_exit_code(&self, id: &str, code: i32) -> Result<(), LedgerError> {
        self.conn()
            .execute(
                // Only a code that changed: SQLite writes a whole row again, its report with it.
                "UPDATE runs SET exit_code = ?2 WHERE id = ?1 AND exit_code IS NOT ?2",
                params![id, code],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// The newest run of `playbook`, if it did not finish (killed, interrupted or aborted).
    pub fn last_unfinished(&self, playbook: &str) -> Result<Option<String>, LedgerError> {
        let conn = self.conn();
        let newest: Option<(String, String)> = conn
            .query_row(
                "SELECT id, state FROM runs WHERE playbook = ?1 AND dry_run = 0 ORDER BY started_at DESC, rowid DESC LIMIT 1",
                params![playbook],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        Ok(newest
            .filter(|(_, state)| state != "finished")
            .map(|(id, _)| id))
    }

    /// What run `run_id` (and the runs it resumed) did to each item, by provider item id.
    pub fn past(&self, run_id: &str) -> Result<HashMap<String, Past>, LedgerError> {
        let conn = self.conn();
        let mut chain = vec![run_id.to_string()];
        let mut current = run_id.to_string();
        while let Some(prev) = conn
            .query_row(
                "SELECT resumed_from FROM runs WHERE id = ?1",
                params![current],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map_err(err)?
            .flatten()
        {
            if chain.contains(&prev) {
                break;
            }
            chain.push(prev.clone());
            current = prev;
        }
        let mut past = HashMap::new();
        let mut stmt = conn.prepare_cached(ITEMS_OF_RUN).map_err(err)?;
        for run in chain.iter().rev() {
            let rows = stmt
                .query_map(params![run], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .map_err(err)?;
            for row in rows {
                let (item, outcome, message) = row.map_err(err)?;
                let entry = match outcome {
                    // A name this runbook does not know (a newer one wrote it) is not a retry.
                    Some(outcome) => Past::Done {
                        outcome: outcome.parse().unwrap_or(ItemOutcome::Failed),
                        message,
                    },
                    None => Past::InFlight,
                };
                past.insert(item, entry);
            }
        }
        Ok(past)
    }

    /// Runs, newest first, of one playbook or all.
    pub fn runs(
        &self,
        playbook: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RunSummary>, LedgerError> {
        let conn = self.conn();
        let exit_code = if super::schema::has_exit_code(&conn).map_err(err)? {
            "exit_code"
        } else {
            "NULL"
        };
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, playbook, started_at, finished_at, state, dry_run, resumed_from, fetched, selected, retried, skipped, failed, {exit_code}
                 FROM runs WHERE (?1 IS NULL OR playbook = ?1) ORDER BY started_at DESC, rowid DESC LIMIT ?2",
            ))
            .map_err(err)?;
        let rows = stmt
            .query_map(params![playbook, limit as i64], |r| {
                Ok(RunSummary {
                    id: r.get(0)?,
                    playbook: r.get(1)?,
                    started_at: r.get(2)?,
                    finished_at: r.get(3)?,
                    state: r.get(4)?,
                    dry_run: r.get(5)?,
                    resumed_from: r.get(6)?,
                    fetched: r.get::<_, i64>(7)? as u64,
                    selected: r.get::<_, i64>(8)? as u64,
                    retried: r.get::<_, i64>(9)? as u64,
                    skipped: r.get::<_, i64>(10)? as u64,
                    failed: r.get::<_, i64>(11)? as u64,
                    exit_code: r.get(12)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// The JSON report of run `id`, if it finished writing one.
    pub fn report(&self, id: &str) -> Result<Option<String>, LedgerError> {
        self.conn()
            .query_row("SELECT report FROM runs WHERE id = ?1", params![id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(err)
    }

    /// Ids of the runs whose id starts with `prefix`, newest first, at most `limit` of them (for
    /// `show` given a shortened id). `substr` rather than `LIKE`: `_` and `%` in a prefix are text.
    pub fn run_ids_starting_with(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, LedgerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id FROM runs WHERE substr(id, 1, length(?1)) = ?1
                 ORDER BY started_at DESC, rowid DESC LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![prefix, limit as i64], |r| r.get::<_, String>(0))
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Whether run `id` exists.
    pub fn has_run(&self, id: &str) -> Result<bool, LedgerError> {
        self.conn()
            .query_row("SELECT 1 FROM runs WHERE id = ?1", params![id], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(err)
    }
}
