//! Each mutating request and its items: the intent committed before the request leaves, the result
//! after its answer, an in-flight intent resolved by a later check, and the retry counts that
//! budgets use.

use rusqlite::{OptionalExtension, params};

use super::{Intent, Ledger, LedgerError, Link, err};
use crate::report::ItemOutcome;

/// The outcomes that count as a retry ([`ItemOutcome::counts_as_retry`]), as an SQL list of
/// literals. The names are this program's own constants, never input.
fn retry_outcomes_sql() -> String {
    ItemOutcome::ALL
        .into_iter()
        .filter(|o| o.counts_as_retry())
        .map(|o| format!("'{}'", o.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Ledger {
    /// Record that a request is about to be sent. Returns its id for [`Ledger::result`].
    pub fn intent(&self, intent: &Intent<'_>) -> Result<i64, LedgerError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO requests (run_id, step, method, url, intent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![intent.run_id, intent.step, intent.method, intent.url, intent.at],
        )
        .map_err(err)?;
        let request_id = tx.last_insert_rowid();
        for id in intent.item_ids {
            tx.execute(
                "INSERT INTO request_items (request_id, provider, item_id, at) VALUES (?1, ?2, ?3, ?4)",
                params![request_id, intent.provider, id, intent.at],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(request_id)
    }

    /// Record the answer to request `request_id`: each item's outcome.
    pub fn result(
        &self,
        request_id: i64,
        http_status: Option<u16>,
        outcomes: &[(String, ItemOutcome, Option<String>)],
        at: &str,
    ) -> Result<(), LedgerError> {
        self.result_linked(request_id, http_status, outcomes, &[], at)
    }

    /// Record the answer to request `request_id`, and in the same transaction the new work its
    /// retry created: `links` are (retried id, new id) under `provider`.
    pub fn result_linked(
        &self,
        request_id: i64,
        http_status: Option<u16>,
        outcomes: &[(String, ItemOutcome, Option<String>)],
        links: &[Link<'_>],
        at: &str,
    ) -> Result<(), LedgerError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        tx.execute(
            "UPDATE requests SET result_at = ?2, http_status = ?3 WHERE id = ?1",
            params![request_id, at, http_status],
        )
        .map_err(err)?;
        for (item_id, outcome, message) in outcomes {
            tx.execute(
                "UPDATE request_items SET outcome = ?3, message = ?4 WHERE request_id = ?1 AND item_id = ?2",
                params![request_id, item_id, outcome.as_str(), message],
            )
            .map_err(err)?;
        }
        for link in links {
            tx.execute(
                "INSERT INTO links (request_id, provider, item_id, new_id, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![request_id, link.provider, link.item_id, link.new_id, at],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Give the in-flight request of `item_id` in run `run_id` (or a run it resumed) the outcome a
    /// later check found, so that a run resuming this one does not have to check it again — by
    /// then the work may have failed anew and look as if the retry never reached the provider.
    pub fn resolve_in_flight(
        &self,
        run_id: &str,
        provider: &str,
        item_id: &str,
        outcome: ItemOutcome,
        message: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.conn()
            .execute(
                "WITH RECURSIVE chain(id) AS (
                     SELECT ?1
                     UNION SELECT r.resumed_from FROM runs r JOIN chain c ON r.id = c.id
                     WHERE r.resumed_from IS NOT NULL
                 )
                 UPDATE request_items SET outcome = ?4, message = ?5
                 WHERE provider = ?2 AND item_id = ?3 AND outcome IS NULL
                   AND request_id IN (SELECT id FROM requests WHERE run_id IN (SELECT id FROM chain))",
                params![run_id, provider, item_id, outcome.as_str(), message],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// The run whose retry of `item_id` of `provider` is the item's latest and never got an answer
    /// (a crash, or an ambiguous answer no check could settle), if it is so. A later answered
    /// retry (sent again on purpose) settles it.
    pub fn unanswered(&self, provider: &str, item_id: &str) -> Result<Option<String>, LedgerError> {
        self.conn()
            .query_row(
                "SELECT r.run_id, ri.outcome FROM request_items ri JOIN requests r ON r.id = ri.request_id
                 WHERE ri.provider = ?1 AND ri.item_id = ?2
                 ORDER BY ri.rowid DESC LIMIT 1",
                params![provider, item_id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
            )
            .optional()
            .map(|latest| latest.and_then(|(run, outcome)| outcome.is_none().then_some(run)))
            .map_err(err)
    }

    /// How many times `item_id` of `provider` was retried (an answered request with outcome
    /// `retried`, or one in flight) since `since` (RFC 3339).
    pub fn retries_since(
        &self,
        provider: &str,
        item_id: &str,
        since: &str,
    ) -> Result<u64, LedgerError> {
        let sql = format!(
            "SELECT COUNT(*) FROM request_items WHERE provider = ?1 AND item_id = ?2 AND at >= ?3 AND (outcome IS NULL OR outcome IN ({}))",
            retry_outcomes_sql()
        );
        self.conn()
            .query_row(&sql, params![provider, item_id, since], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(err)
    }
}
