//! The ledger's tables, the columns runbook needs of them, and the one-time migration. Schema
//! changes are additive (`CREATE … IF NOT EXISTS`); nothing is ever dropped.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS runs (
    id            TEXT PRIMARY KEY,
    playbook      TEXT NOT NULL,
    provider      TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    state         TEXT NOT NULL,            -- running | finished | aborted
    dry_run       INTEGER NOT NULL,
    resumed_from  TEXT,
    fetched       INTEGER NOT NULL DEFAULT 0,
    selected      INTEGER NOT NULL DEFAULT 0,
    retried       INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    report        TEXT                      -- the final JSON report
);
CREATE INDEX IF NOT EXISTS runs_by_playbook ON runs (playbook, started_at);
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL REFERENCES runs (id),
    step        TEXT NOT NULL,
    method      TEXT NOT NULL,
    url         TEXT NOT NULL,
    intent_at   TEXT NOT NULL,
    result_at   TEXT,
    http_status INTEGER
);
CREATE TABLE IF NOT EXISTS request_items (
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    provider    TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    outcome     TEXT,                       -- null while in flight
    message     TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_items_by_item ON request_items (provider, item_id, at);
-- Added for constant cost per item (issue 9): a result finds its row, a run its requests, a run's
-- links their count, without scanning. An older ledger gains them on its next open.
CREATE INDEX IF NOT EXISTS request_items_by_request ON request_items (request_id, item_id);
CREATE INDEX IF NOT EXISTS requests_by_run ON requests (run_id);
CREATE TABLE IF NOT EXISTS links (
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    provider    TEXT NOT NULL,
    item_id     TEXT NOT NULL,              -- the work retried
    new_id      TEXT NOT NULL,              -- the new work its retry created
    at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS links_by_item ON links (provider, item_id);
CREATE INDEX IF NOT EXISTS links_by_new ON links (provider, new_id);
CREATE INDEX IF NOT EXISTS links_by_request ON links (request_id);
CREATE TABLE IF NOT EXISTS playbook_files (
    path        TEXT PRIMARY KEY,           -- a playbook file, its canonical path
    playbook    TEXT NOT NULL,              -- its `name:` when a run of it last started
    at          TEXT NOT NULL
);
"#;

/// Links for a ledger written before lineage existed, from its runs' stored reports (each retried
/// item's `new_id`), tied to the request that retried the item.
const BACKFILL_LINKS: &str = r#"
INSERT INTO links (request_id, provider, item_id, new_id, at)
SELECT request_id, provider, item_id, new_id, at FROM (
    SELECT
        (SELECT ri.request_id FROM request_items ri JOIN requests q ON q.id = ri.request_id
          WHERE q.run_id = runs.id AND ri.item_id = json_extract(i.value, '$.id')
            AND ri.outcome IS NOT NULL
          ORDER BY ri.rowid DESC LIMIT 1) AS request_id,
        runs.provider AS provider,
        json_extract(i.value, '$.id') AS item_id,
        json_extract(i.value, '$.new_id') AS new_id,
        COALESCE(runs.finished_at, runs.started_at) AS at
    FROM runs, json_each(runs.report, '$.items') AS i
    WHERE runs.dry_run = 0 AND runs.report IS NOT NULL AND json_valid(runs.report)
      AND json_type(i.value, '$.new_id') = 'text'
      AND json_type(i.value, '$.id') = 'text'
      AND json_extract(i.value, '$.new_id') != json_extract(i.value, '$.id')
    ORDER BY runs.started_at, runs.rowid
)
WHERE request_id IS NOT NULL
"#;

/// Create what is missing, in one transaction so that two processes opening one ledger at once
/// migrate it once. A ledger gaining the `links` table gets the links its stored reports show.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let had_runs = table_exists(&tx, "runs")?;
    let had_links = table_exists(&tx, "links")?;
    tx.execute_batch(SCHEMA)?;
    if had_runs && !had_links {
        tx.execute(BACKFILL_LINKS, [])?;
    }
    // Added after the first ledgers: an older ledger gains the column, its runs' codes unknown.
    if !has_exit_code(&tx)? {
        tx.execute("ALTER TABLE runs ADD COLUMN exit_code INTEGER", [])?;
    }
    tx.commit()
}

/// Whether the `runs` table has the `exit_code` column (a ledger opened only to read may be older).
pub(super) fn has_exit_code(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name = 'exit_code'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

pub(super) fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![name],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

/// How long a statement waits for another process's write to the ledger.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The columns runbook reads and writes, per table: a ledger without them is another program's.
const COLUMNS: &[(&str, &[&str])] = &[
    (
        "runs",
        &[
            "id",
            "playbook",
            "provider",
            "started_at",
            "finished_at",
            "state",
            "dry_run",
            "resumed_from",
            "fetched",
            "selected",
            "retried",
            "skipped",
            "failed",
            "report",
        ],
    ),
    (
        "requests",
        &[
            "id",
            "run_id",
            "step",
            "method",
            "url",
            "intent_at",
            "result_at",
            "http_status",
        ],
    ),
    (
        "request_items",
        &[
            "request_id",
            "provider",
            "item_id",
            "outcome",
            "message",
            "at",
        ],
    ),
];

/// Switch to WAL. Two processes opening a new ledger at once can each hold a read lock while
/// asking to change the journal mode; SQLite then answers one of them "busy" at once, without
/// waiting, to break the deadlock. That one steps back and asks again.
pub(super) fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Which of [`COLUMNS`] the ledger lacks, said as a reason. A missing table is one only when
/// `complete` (before the tables are created, only the existing ones are checked).
pub(super) fn check_schema(conn: &Connection, complete: bool) -> Result<(), String> {
    for (table, wanted) in COLUMNS {
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(|e| e.to_string())?;
        let have: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(1))
            .and_then(|rows| rows.collect())
            .map_err(|e| e.to_string())?;
        if have.is_empty() && !complete {
            continue;
        }
        if have.is_empty() {
            return Err(format!("it has no table `{table}`"));
        }
        if let Some(missing) = wanted.iter().find(|c| !have.iter().any(|h| h == *c)) {
            return Err(format!("its table `{table}` has no column `{missing}`"));
        }
    }
    Ok(())
}
