//! Each mutating request and its items: the intent committed before the request leaves, the result
//! after its answer, an in-flight intent resolved by a later check, and the retry counts that
//! budgets use.
//!
//! Every statement here runs once or more per item, so each is prepared once per connection
//! (`prepare_cached`) and finds its rows through an index (`schema`'s; the ledger's tests read
//! each one's query plan): the cost of recording an item does not grow with the ledger.

use std::sync::LazyLock;

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};

use super::{Intent, Ledger, LedgerError, Link, err};
use crate::report::ItemOutcome;

const INSERT_REQUEST: &str =
    "INSERT INTO requests (run_id, step, method, url, intent_at) VALUES (?1, ?2, ?3, ?4, ?5)";
const INSERT_REQUEST_ITEM: &str =
    "INSERT INTO request_items (request_id, provider, item_id, at) VALUES (?1, ?2, ?3, ?4)";
const UPDATE_REQUEST: &str = "UPDATE requests SET result_at = ?2, http_status = ?3 WHERE id = ?1";
const UPDATE_REQUEST_ITEM: &str =
    "UPDATE request_items SET outcome = ?3, message = ?4 WHERE request_id = ?1 AND item_id = ?2";
const DELETE_REQUEST_ITEMS: &str = "DELETE FROM request_items WHERE request_id = ?1";
const DELETE_REQUEST: &str = "DELETE FROM requests WHERE id = ?1";
const INSERT_LINK: &str =
    "INSERT INTO links (request_id, provider, item_id, new_id, at) VALUES (?1, ?2, ?3, ?4, ?5)";
const RESOLVE_IN_FLIGHT: &str = "WITH RECURSIVE chain(id) AS (
         SELECT ?1
         UNION SELECT r.resumed_from FROM runs r JOIN chain c ON r.id = c.id
         WHERE r.resumed_from IS NOT NULL
     )
     UPDATE request_items SET outcome = ?4, message = ?5
     WHERE provider = ?2 AND item_id = ?3 AND outcome IS NULL
       AND request_id IN (SELECT id FROM requests WHERE run_id IN (SELECT id FROM chain))";
const LATEST_OF_ITEM: &str =
    "SELECT r.run_id, ri.outcome FROM request_items ri JOIN requests r ON r.id = ri.request_id
     WHERE ri.provider = ?1 AND ri.item_id = ?2
     ORDER BY ri.rowid DESC LIMIT 1";

/// How many retries (an answered request with an outcome that counts as one, or one in flight)
/// the ids of a JSON array `?3` of `provider` `?1` had since `?2`: one statement for a whole chain.
static RETRIES_SINCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT COUNT(*) FROM request_items WHERE provider = ?1 AND at >= ?2
           AND item_id IN (SELECT value FROM json_each(?3))
           AND (outcome IS NULL OR outcome IN ({}))",
        retry_outcomes_sql()
    )
});

/// The statements run per item, for the test that reads their query plans.
#[cfg(test)]
pub(super) fn per_item_statements() -> Vec<&'static str> {
    vec![
        INSERT_REQUEST,
        INSERT_REQUEST_ITEM,
        UPDATE_REQUEST,
        UPDATE_REQUEST_ITEM,
        INSERT_LINK,
        DELETE_REQUEST_ITEMS,
        DELETE_REQUEST,
        RESOLVE_IN_FLIGHT,
        LATEST_OF_ITEM,
        RETRIES_SINCE.as_str(),
    ]
}

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

/// A request's answer as [`Ledger::answer_in`] writes it.
pub(super) struct Answered<'a> {
    pub request_id: i64,
    pub http_status: Option<u16>,
    /// Each item's (id, outcome, redacted message).
    pub outcomes: &'a [(String, ItemOutcome, Option<String>)],
    /// The new work the retry created.
    pub links: &'a [Link<'a>],
    pub at: &'a str,
}

/// The statements each item's writes run, taken from the connection's statement cache once per
/// transaction however many writes it carries (a group commit carries dozens): the cache hashes a
/// statement's text to lend it and again to take it back: held here, the writer spends 4,000
/// fewer instructions per retry (callgrind, 20,000 retries; bench/notes.md, "Retry throughput:
/// session 16"). Dropped before the transaction commits, they go back to the cache.
pub(super) struct Statements<'c> {
    pub(super) conn: &'c Connection,
    insert_request: Option<CachedStatement<'c>>,
    insert_item: Option<CachedStatement<'c>>,
    update_request: Option<CachedStatement<'c>>,
    update_item: Option<CachedStatement<'c>>,
}

impl<'c> Statements<'c> {
    pub(super) fn new(conn: &'c Connection) -> Statements<'c> {
        Statements {
            conn,
            insert_request: None,
            insert_item: None,
            update_request: None,
            update_item: None,
        }
    }
}

/// The statement in `slot`, taken from `conn`'s cache the first time.
fn held<'s, 'c>(
    slot: &'s mut Option<CachedStatement<'c>>,
    conn: &'c Connection,
    sql: &str,
) -> rusqlite::Result<&'s mut CachedStatement<'c>> {
    if slot.is_none() {
        *slot = Some(conn.prepare_cached(sql)?);
    }
    slot.as_mut().ok_or(rusqlite::Error::InvalidQuery)
}

/// Record an intent inside the caller's transaction; its request id.
pub(super) fn intent_in(st: &mut Statements<'_>, intent: &Intent<'_>) -> rusqlite::Result<i64> {
    held(&mut st.insert_request, st.conn, INSERT_REQUEST)?.execute(params![
        intent.run_id,
        intent.step,
        intent.method,
        intent.url,
        intent.at
    ])?;
    let request_id = st.conn.last_insert_rowid();
    let item = held(&mut st.insert_item, st.conn, INSERT_REQUEST_ITEM)?;
    for id in intent.item_ids {
        item.execute(params![request_id, intent.provider, id, intent.at])?;
    }
    Ok(request_id)
}

/// Record an answer inside the caller's transaction.
pub(super) fn answer_in(st: &mut Statements<'_>, a: &Answered<'_>) -> rusqlite::Result<()> {
    held(&mut st.update_request, st.conn, UPDATE_REQUEST)?.execute(params![
        a.request_id,
        a.at,
        a.http_status
    ])?;
    let item = held(&mut st.update_item, st.conn, UPDATE_REQUEST_ITEM)?;
    for (item_id, outcome, message) in a.outcomes {
        item.execute(params![a.request_id, item_id, outcome.as_str(), message])?;
    }
    // Most answers create nothing new: no statement is taken from the cache for them.
    if !a.links.is_empty() {
        let mut link = st.conn.prepare_cached(INSERT_LINK)?;
        for l in a.links {
            link.execute(params![a.request_id, l.provider, l.item_id, l.new_id, a.at])?;
        }
    }
    Ok(())
}

/// Take back, inside the caller's transaction, the intent of request `request_id` that was never
/// sent (the run stopped while it waited for a sending slot): the ledger is left as if it had
/// never been recorded, so `--resume` sends its items as it sends any other not sent.
pub(super) fn withdraw_in(conn: &Connection, request_id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(DELETE_REQUEST_ITEMS)?
        .execute(params![request_id])?;
    conn.prepare_cached(DELETE_REQUEST)?
        .execute(params![request_id])?;
    Ok(())
}

/// Resolve an in-flight request inside the caller's transaction (see [`Ledger::resolve_in_flight`]).
pub(super) fn resolve_in(
    conn: &Connection,
    run_id: &str,
    provider: &str,
    item_id: &str,
    outcome: ItemOutcome,
    message: Option<&str>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(RESOLVE_IN_FLIGHT)?
        .execute(params![
            run_id,
            provider,
            item_id,
            outcome.as_str(),
            message
        ])
        .map(|_| ())
}

impl Ledger {
    /// Record that a request is about to be sent. Returns its id for [`Ledger::result`].
    pub fn intent(&self, intent: &Intent<'_>) -> Result<i64, LedgerError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(err)?;
        let request_id = intent_in(&mut Statements::new(&tx), intent).map_err(err)?;
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
        let answered = Answered {
            request_id,
            http_status,
            outcomes,
            links,
            at,
        };
        answer_in(&mut Statements::new(&tx), &answered).map_err(err)?;
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
        resolve_in(&self.conn(), run_id, provider, item_id, outcome, message).map_err(err)
    }

    /// The run whose retry of `item_id` of `provider` is the item's latest and never got an answer
    /// (a crash, or an ambiguous answer no check could settle), if it is so. A later answered
    /// retry (sent again on purpose) settles it.
    pub fn unanswered(&self, provider: &str, item_id: &str) -> Result<Option<String>, LedgerError> {
        self.conn()
            .prepare_cached(LATEST_OF_ITEM)
            .and_then(|mut stmt| {
                stmt.query_row(params![provider, item_id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .optional()
            })
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
        self.chain_retries_since(provider, &[item_id.to_string()], since)
    }

    /// How many times the ids of one chain of `provider` were retried (an answered request with
    /// outcome `retried`, or one in flight) since `since` (RFC 3339), all links together: one
    /// statement whatever the chain's length.
    pub fn chain_retries_since(
        &self,
        provider: &str,
        chain: &[String],
        since: &str,
    ) -> Result<u64, LedgerError> {
        let ids = serde_json::Value::from(chain).to_string();
        self.conn()
            .prepare_cached(&RETRIES_SINCE)
            .and_then(|mut stmt| {
                stmt.query_row(params![provider, since, ids], |r| r.get::<_, i64>(0))
            })
            .map(|n| n.max(0) as u64)
            .map_err(err)
    }
}
