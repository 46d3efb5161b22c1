//! Lineage: a retry that created new work is a link from the retried id to the new one; links make
//! chains (original → new → newer) whose head is the one id with no link out.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Ledger, LedgerError, Lineage, Retried, err};

/// The id whose retry created `?2`: one step back along a chain.
const BACK: &str =
    "SELECT item_id FROM links WHERE provider = ?1 AND new_id = ?2 ORDER BY rowid DESC LIMIT 1";
/// The new work `?2`'s retry created, and the run that made it: one step forward.
const FORWARD: &str =
    "SELECT l.new_id, r.run_id FROM links l JOIN requests r ON r.id = l.request_id
     WHERE l.provider = ?1 AND l.item_id = ?2 ORDER BY l.rowid DESC LIMIT 1";

/// Longest chain followed: a guard against a cycle a provider could make by handing back an old id.
const MAX_CHAIN: usize = 1000;

impl Ledger {
    /// The chain `item_id` of `provider` belongs to: its ids from the original to the head, and
    /// where `item_id`'s own retry went, if it has one. An id never retried into new work is a
    /// chain of one.
    pub fn lineage(&self, provider: &str, item_id: &str) -> Result<Lineage, LedgerError> {
        let conn = self.conn();
        let mut back = conn.prepare_cached(BACK).map_err(err)?;
        let mut before = Vec::new();
        let mut current = item_id.to_string();
        while before.len() < MAX_CHAIN {
            let prev: Option<String> = back
                .query_row(params![provider, current], |r| r.get(0))
                .optional()
                .map_err(err)?;
            match prev {
                Some(prev) if prev != item_id && !before.contains(&prev) => {
                    before.push(prev.clone());
                    current = prev;
                }
                _ => break,
            }
        }
        before.reverse();
        let mut forward = conn.prepare_cached(FORWARD).map_err(err)?;
        let mut chain = before;
        chain.push(item_id.to_string());
        let mut next = None;
        let mut current = item_id.to_string();
        while chain.len() < MAX_CHAIN {
            let found: Option<(String, String)> = forward
                .query_row(params![provider, current], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(err)?;
            let Some((new_id, run_id)) = found else { break };
            if current == item_id {
                next = Some(Retried {
                    new_id: new_id.clone(),
                    run_id,
                });
            }
            if chain.contains(&new_id) {
                break;
            }
            chain.push(new_id.clone());
            current = new_id;
        }
        Ok(Lineage { chain, next })
    }

    /// The links run `run_id` recorded, as (retried id, new id), in the order they were made.
    pub fn links_of_run(&self, run_id: &str) -> Result<Vec<(String, String)>, LedgerError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT l.item_id, l.new_id FROM links l JOIN requests r ON r.id = l.request_id
                 WHERE r.run_id = ?1 ORDER BY l.rowid",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![run_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// How many links each of `run_ids` recorded (its retries that created new work), in one
    /// statement for a whole `history` listing; a run without links is absent.
    pub fn links_per_run(&self, run_ids: &[String]) -> Result<HashMap<String, u64>, LedgerError> {
        let ids = serde_json::Value::from(run_ids).to_string();
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(LINKS_PER_RUN).map_err(err)?;
        let rows = stmt
            .query_map(params![ids], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .map_err(err)?;
        rows.collect::<Result<HashMap<_, _>, _>>().map_err(err)
    }
}

/// The number of links of each run in the JSON array `?1`.
const LINKS_PER_RUN: &str =
    "SELECT r.run_id, COUNT(*) FROM links l JOIN requests r ON r.id = l.request_id
     WHERE r.run_id IN (SELECT value FROM json_each(?1)) GROUP BY r.run_id";

/// The statements `history` and the triage run per run or per item, for the test that reads their
/// query plans.
#[cfg(test)]
pub(super) fn lookup_statements() -> Vec<&'static str> {
    vec![LINKS_PER_RUN, BACK, FORWARD]
}
