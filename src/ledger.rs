//! The run ledger: every run, every selected item and every mutating request, in an embedded SQLite
//! database (`.runbook/ledger.db` by default).
//!
//! Invariants:
//! - A mutating request's *intent* is committed before the request is sent, and its *result* after
//!   the answer, each in its own transaction: a crash at any instant leaves either no trace of a
//!   request that was never sent, or an intent without a result — "in flight", which `--resume`
//!   treats as possibly carried out.
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

/// The ledger's default place, under the working directory.
pub const DEFAULT_PATH: &str = ".runbook/ledger.db";

const SCHEMA: &str = r#"
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
CREATE TABLE IF NOT EXISTS links (
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    provider    TEXT NOT NULL,
    item_id     TEXT NOT NULL,              -- the work retried
    new_id      TEXT NOT NULL,              -- the new work its retry created
    at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS links_by_item ON links (provider, item_id);
CREATE INDEX IF NOT EXISTS links_by_new ON links (provider, new_id);
CREATE TABLE IF NOT EXISTS playbook_files (
    path        TEXT PRIMARY KEY,           -- a playbook file, its canonical path
    playbook    TEXT NOT NULL,              -- its `name:` when a run of it last started
    at          TEXT NOT NULL
);
"#;

/// Longest chain followed: a guard against a cycle a provider could make by handing back an old id.
const MAX_CHAIN: usize = 1000;

#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
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
        outcome: String,
        message: Option<String>,
    },
    /// A request was about to be sent, or sent, and no answer was recorded.
    InFlight,
}

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
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let had_runs = table_exists(&tx, "runs")?;
    let had_links = table_exists(&tx, "links")?;
    tx.execute_batch(SCHEMA)?;
    if had_runs && !had_links {
        tx.execute(BACKFILL_LINKS, [])?;
    }
    tx.commit()
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![name],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

fn err(e: rusqlite::Error) -> String {
    format!("ledger: {e}")
}

/// How long a statement waits for another process's write to the ledger.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The one message for a ledger that cannot be used: its path, what is wrong, what to do.
fn unusable(path: &Path, what: &str, fix: &str) -> String {
    format!(
        "the ledger {} cannot be used: {what}; {fix}",
        path.display()
    )
}

/// A SQLite error met while opening the ledger, said in those terms.
fn explain(path: &Path, e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    let moved = move_aside(path);
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => unusable(path, "it is not a SQLite database", &moved),
        Some(ErrorCode::DatabaseCorrupt) => {
            unusable(path, "it is damaged (truncated or overwritten)", &moved)
        }
        Some(ErrorCode::ReadOnly) => unusable(
            path,
            "it is read-only",
            "make it and its folder writable (chmod u+w), or point --ledger elsewhere",
        ),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => unusable(
            path,
            &format!("it cannot be opened ({e})"),
            "check the path and its permissions, or point --ledger elsewhere",
        ),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => unusable(
            path,
            &format!(
                "another process kept it locked for {}s",
                BUSY_TIMEOUT.as_secs()
            ),
            "wait for that process, then run again",
        ),
        _ => unusable(path, &e.to_string(), &moved),
    }
}

/// Refuse what is in the ledger's place if it is not a file, or not a SQLite one. A missing file
/// is fine: [`Ledger::open`] creates it.
fn check_file(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(unusable(
            path,
            "it is a directory",
            "point --ledger at a file",
        )),
        Ok(meta) if !meta.is_file() => Err(unusable(
            path,
            "it is not a regular file",
            "point --ledger at a file",
        )),
        Ok(_) => check_header(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(unusable(
            path,
            &e.to_string(),
            "check the path and its permissions",
        )),
    }
}

/// Refuse a file that is not SQLite before SQLite touches it (it would create a journal beside
/// it). An empty file is a new database.
fn check_header(path: &Path) -> Result<(), String> {
    use std::io::Read;
    const MAGIC: &[u8; 16] = b"SQLite format 3\0";
    let mut head = Vec::with_capacity(MAGIC.len());
    std::fs::File::open(path)
        .and_then(|f| f.take(MAGIC.len() as u64).read_to_end(&mut head))
        .map_err(|e| {
            unusable(
                path,
                &format!("it cannot be read ({e})"),
                "check its permissions, or point --ledger elsewhere",
            )
        })?;
    if head.is_empty() || head == MAGIC {
        return Ok(());
    }
    Err(unusable(
        path,
        "it is not a SQLite database",
        &move_aside(path),
    ))
}

/// Switch to WAL. Two processes opening a new ledger at once can each hold a read lock while
/// asking to change the journal mode; SQLite then answers one of them "busy" at once, without
/// waiting, to break the deadlock. That one steps back and asks again.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
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

/// A ledger of another program, or of a runbook whose schema this one does not know.
fn not_ours(path: &Path, what: &str) -> String {
    unusable(
        path,
        &format!("it is not a runbook ledger ({what})"),
        &move_aside(path),
    )
}

/// What to do with a file that is not a usable ledger.
fn move_aside(path: &Path) -> String {
    format!(
        "move it aside (mv {0} {0}.broken) and runbook starts a new one, or point --ledger elsewhere",
        path.display()
    )
}

/// Which of [`COLUMNS`] the ledger lacks, said as a reason. A missing table is one only when
/// `complete` (before the tables are created, only the existing ones are checked).
fn check_schema(conn: &Connection, complete: bool) -> Result<(), String> {
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

impl Ledger {
    /// Open (creating it and its folder if needed) the ledger at `path`.
    ///
    /// A ledger that cannot be used — not a SQLite file, damaged, of another schema, read-only, a
    /// directory — is refused here, before any run starts, with one message that names the path,
    /// what is wrong and what to do ([`unusable`]). Several processes may open the same ledger at
    /// once (runs of different playbooks): the setup waits for the others instead of failing
    /// with "database is locked".
    pub fn open(path: &Path) -> Result<Ledger, String> {
        let refuse = |what: &str, fix: &str| unusable(path, what, fix);
        check_file(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                refuse(
                    &format!("cannot create its folder {}: {e}", dir.display()),
                    "check the path and its permissions",
                )
            })?;
        }
        let mut conn = Connection::open(path).map_err(|e| explain(path, &e))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(refuse(
                "it is read-only",
                "make it and its folder writable (chmod u+w), or point --ledger elsewhere",
            ));
        }
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| explain(path, &e))?;
        set_wal(&conn).map_err(|e| explain(path, &e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| explain(path, &e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| explain(path, &e))?;
        check_schema(&conn, false).map_err(|what| not_ours(path, &what))?;
        // One writer creates the tables (and fills a new `links` table); a second process waits
        // for it (busy timeout) rather than interleaving its own `CREATE ... IF NOT EXISTS` with
        // the first one's.
        migrate(&mut conn).map_err(|e| explain(path, &e))?;
        check_schema(&conn, true).map_err(|what| not_ours(path, &what))?;
        Ok(Ledger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Open an existing ledger only to read it (`history`, `show`): a read-only ledger will do,
    /// and nothing in it is created or changed. Refused as [`Ledger::open`] refuses.
    pub fn open_to_read(path: &Path) -> Result<Ledger, String> {
        check_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| explain(path, &e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| explain(path, &e))?;
        check_schema(&conn, true).map_err(|what| not_ours(path, &what))?;
        Ok(Ledger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn start_run(
        &self,
        id: &str,
        playbook: &str,
        provider: &str,
        started_at: &str,
        dry_run: bool,
        resumed_from: Option<&str>,
    ) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT INTO runs (id, playbook, provider, started_at, state, dry_run, resumed_from) VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)",
                params![id, playbook, provider, started_at, dry_run, resumed_from],
            )
            .map(|_| ())
            .map_err(|e| explain(&self.path, &e))
    }

    /// Record that a request is about to be sent. Returns its id for [`Ledger::result`].
    pub fn intent(&self, intent: &Intent<'_>) -> Result<i64, String> {
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
        outcomes: &[(String, String, Option<String>)],
        at: &str,
    ) -> Result<(), String> {
        self.result_linked(request_id, http_status, outcomes, &[], at)
    }

    /// Record the answer to request `request_id`, and in the same transaction the new work its
    /// retry created: `links` are (retried id, new id) under `provider`.
    pub fn result_linked(
        &self,
        request_id: i64,
        http_status: Option<u16>,
        outcomes: &[(String, String, Option<String>)],
        links: &[Link<'_>],
        at: &str,
    ) -> Result<(), String> {
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
                params![request_id, item_id, outcome, message],
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

    /// The chain `item_id` of `provider` belongs to: its ids from the original to the head, and
    /// where `item_id`'s own retry went, if it has one. An id never retried into new work is a
    /// chain of one.
    pub fn lineage(&self, provider: &str, item_id: &str) -> Result<Lineage, String> {
        let conn = self.conn();
        let mut back = conn
            .prepare_cached(
                "SELECT item_id FROM links WHERE provider = ?1 AND new_id = ?2 ORDER BY rowid DESC LIMIT 1",
            )
            .map_err(err)?;
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
        let mut forward = conn
            .prepare_cached(
                "SELECT l.new_id, r.run_id FROM links l JOIN requests r ON r.id = l.request_id
                 WHERE l.provider = ?1 AND l.item_id = ?2 ORDER BY l.rowid DESC LIMIT 1",
            )
            .map_err(err)?;
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

    /// The run whose retry of `item_id` of `provider` is the item's latest and never got an answer
    /// (a crash, or an ambiguous answer no check could settle), if it is so. A later answered
    /// retry (sent again on purpose) settles it.
    pub fn unanswered(&self, provider: &str, item_id: &str) -> Result<Option<String>, String> {
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

    /// How many times the ids of one chain of `provider` were retried (an answered request with
    /// outcome `retried`, or one in flight) since `since` (RFC 3339), all links together.
    pub fn chain_retries_since(
        &self,
        provider: &str,
        chain: &[String],
        since: &str,
    ) -> Result<u64, String> {
        let mut total = 0;
        for id in chain {
            total += self.retries_since(provider, id, since)?;
        }
        Ok(total)
    }

    /// Remember that the playbook file at `path` (canonical) is named `playbook`, so that
    /// `history FILE` finds its runs without reading the file again.
    pub fn record_playbook_file(&self, path: &str, playbook: &str, at: &str) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT INTO playbook_files (path, playbook, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (path) DO UPDATE SET playbook = excluded.playbook, at = excluded.at",
                params![path, playbook, at],
            )
            .map(|_| ())
            .map_err(|e| explain(&self.path, &e))
    }

    /// The name the playbook file at `path` (canonical) had when a run of it last started; none if
    /// no run recorded it (or the ledger predates the record and is only read).
    pub fn playbook_of_file(&self, path: &str) -> Result<Option<String>, String> {
        let conn = self.conn();
        if !table_exists(&conn, "playbook_files").map_err(err)? {
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

    /// The links run `run_id` recorded, as (retried id, new id), in the order they were made.
    pub fn links_of_run(&self, run_id: &str) -> Result<Vec<(String, String)>, String> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT l.item_id, l.new_id FROM links l JOIN requests r ON r.id = l.request_id
                 WHERE r.run_id = ?1 ORDER BY l.rowid",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![run_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Close a run with its final state, counts and JSON report.
    pub fn finish_run(
        &self,
        id: &str,
        state: &str,
        finished_at: &str,
        totals: [u64; 5],
        report: &str,
    ) -> Result<(), String> {
        let [fetched, selected, retried, skipped, failed] =
            totals.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        self.conn()
            .execute(
                "UPDATE runs SET state = ?2, finished_at = ?3, fetched = ?4, selected = ?5, retried = ?6, skipped = ?7, failed = ?8, report = ?9 WHERE id = ?1",
                params![id, state, finished_at, fetched, selected, retried, skipped, failed, report],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// The newest run of `playbook`, if it did not finish (killed, interrupted or aborted).
    pub fn last_unfinished(&self, playbook: &str) -> Result<Option<String>, String> {
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
    pub fn past(&self, run_id: &str) -> Result<HashMap<String, Past>, String> {
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
        let mut stmt = conn
            .prepare("SELECT ri.item_id, ri.outcome, ri.message FROM request_items ri JOIN requests r ON r.id = ri.request_id WHERE r.run_id = ?1 ORDER BY ri.rowid")
            .map_err(err)?;
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
                    Some(outcome) => Past::Done { outcome, message },
                    None => Past::InFlight,
                };
                past.insert(item, entry);
            }
        }
        Ok(past)
    }

    /// Give the in-flight request of `item_id` in run `run_id` (or a run it resumed) the outcome a
    /// later check found, so that a run resuming this one does not have to check it again — by
    /// then the work may have failed anew and look as if the retry never reached the provider.
    pub fn resolve_in_flight(
        &self,
        run_id: &str,
        provider: &str,
        item_id: &str,
        outcome: &str,
        message: Option<&str>,
    ) -> Result<(), String> {
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
                params![run_id, provider, item_id, outcome, message],
            )
            .map(|_| ())
            .map_err(err)
    }

    /// How many times `item_id` of `provider` was retried (an answered request with outcome
    /// `retried`, or one in flight) since `since` (RFC 3339).
    pub fn retries_since(&self, provider: &str, item_id: &str, since: &str) -> Result<u64, String> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM request_items WHERE provider = ?1 AND item_id = ?2 AND at >= ?3 AND (outcome IS NULL OR outcome IN ('retried', 'recovered', 'still_failing', 'pending'))",
                params![provider, item_id, since],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(err)
    }

    /// Runs, newest first, of one playbook or all.
    pub fn runs(&self, playbook: Option<&str>, limit: usize) -> Result<Vec<RunSummary>, String> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, playbook, started_at, finished_at, state, dry_run, resumed_from, fetched, selected, retried, skipped, failed
                 FROM runs WHERE (?1 IS NULL OR playbook = ?1) ORDER BY started_at DESC, rowid DESC LIMIT ?2",
            )
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
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// The JSON report of run `id`, if it finished writing one.
    pub fn report(&self, id: &str) -> Result<Option<String>, String> {
        self.conn()
            .query_row("SELECT report FROM runs WHERE id = ?1", params![id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(err)
    }

    /// Whether run `id` exists.
    pub fn has_run(&self, id: &str) -> Result<bool, String> {
        self.conn()
            .query_row("SELECT 1 FROM runs WHERE id = ?1", params![id], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn intent_without_result_is_in_flight_and_results_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("sub/ledger.db")).unwrap();
        ledger
            .start_run("r1", "nightly", "beam", "2026-11-23T00:00:00Z", false, None)
            .unwrap();
        let a = ledger
            .intent(&Intent {
                run_id: "r1",
                step: "retry",
                provider: "beam",
                item_ids: &ids(&["t1"]),
                method: "POST",
                url: "http://x/retry",
                at: "2026-11-23T00:00:01Z",
            })
            .unwrap();
        ledger
            .result(
                a,
                Some(201),
                &[("t1".into(), "retried".into(), None)],
                "2026-11-23T00:00:02Z",
            )
            .unwrap();
        ledger
            .intent(&Intent {
                run_id: "r1",
                step: "retry",
                provider: "beam",
                item_ids: &ids(&["t2"]),
                method: "POST",
                url: "http://x/retry",
                at: "2026-11-23T00:00:03Z",
            })
            .unwrap();
        assert_eq!(
            ledger.last_unfinished("nightly").unwrap().as_deref(),
            Some("r1")
        );
        let past = ledger.past("r1").unwrap();
        assert_eq!(
            past["t1"],
            Past::Done {
                outcome: "retried".into(),
                message: None
            }
        );
        assert_eq!(past["t2"], Past::InFlight);
        assert_eq!(
            ledger
                .retries_since("beam", "t1", "2026-11-22T00:00:00Z")
                .unwrap(),
            1
        );
        assert_eq!(
            ledger
                .retries_since("beam", "t1", "2026-11-24T00:00:00Z")
                .unwrap(),
            0
        );
        ledger
            .finish_run(
                "r1",
                "finished",
                "2026-11-23T00:01:00Z",
                [2, 2, 1, 0, 0],
                "{}",
            )
            .unwrap();
        assert_eq!(ledger.last_unfinished("nightly").unwrap(), None);
        assert_eq!(ledger.report("r1").unwrap().as_deref(), Some("{}"));
    }

    #[test]
    fn a_resumed_run_sees_what_its_predecessors_did() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
        ledger
            .start_run("r1", "p", "http", "2026-11-23T00:00:00Z", false, None)
            .unwrap();
        let a = ledger
            .intent(&Intent {
                run_id: "r1",
                step: "retry",
                provider: "http",
                item_ids: &ids(&["a", "b"]),
                method: "POST",
                url: "u",
                at: "2026-11-23T00:00:01Z",
            })
            .unwrap();
        ledger
            .result(
                a,
                Some(200),
                &[
                    ("a".into(), "retried".into(), None),
                    ("b".into(), "skipped".into(), Some("no".into())),
                ],
                "2026-11-23T00:00:02Z",
            )
            .unwrap();
        ledger
            .start_run("r2", "p", "http", "2026-11-23T01:00:00Z", false, Some("r1"))
            .unwrap();
        ledger
            .intent(&Intent {
                run_id: "r2",
                step: "retry",
                provider: "http",
                item_ids: &ids(&["c"]),
                method: "POST",
                url: "u",
                at: "2026-11-23T01:00:01Z",
            })
            .unwrap();
        let past = ledger.past("r2").unwrap();
        assert_eq!(past.len(), 3);
        assert_eq!(past["c"], Past::InFlight);
        ledger
            .resolve_in_flight("r2", "http", "c", "retried", Some("checked"))
            .unwrap();
        assert_eq!(
            ledger.past("r2").unwrap()["c"],
            Past::Done {
                outcome: "retried".into(),
                message: Some("checked".into())
            }
        );
        assert_eq!(
            ledger
                .retries_since("http", "c", "2026-11-23T00:00:00Z")
                .unwrap(),
            1,
            "a resolved intent is still one retry"
        );
        let runs = ledger.runs(Some("p"), 10).unwrap();
        assert_eq!(
            runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r2", "r1"]
        );
    }

    #[test]
    fn links_make_chains_followed_both_ways_and_budgets_count_the_whole_chain() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
        let retry = |run: &str, id: &str, new_id: &str, at: &str| {
            ledger
                .start_run(run, "p", "skyvern", at, false, None)
                .unwrap();
            let request = ledger
                .intent(&Intent {
                    run_id: run,
                    step: "retry",
                    provider: "skyvern",
                    item_ids: &ids(&[id]),
                    method: "POST",
                    url: "u",
                    at,
                })
                .unwrap();
            let link = Link {
                provider: "skyvern",
                item_id: id,
                new_id,
            };
            ledger
                .result_linked(
                    request,
                    Some(200),
                    &[(id.into(), "retried".into(), None)],
                    &[link],
                    at,
                )
                .unwrap();
        };
        retry("r1", "wr_a", "wr_b", "2026-11-23T00:00:00Z");
        retry("r2", "wr_b", "wr_c", "2026-11-24T00:00:00Z");
        let chain = ids(&["wr_a", "wr_b", "wr_c"]);
        for id in &chain {
            assert_eq!(ledger.lineage("skyvern", id).unwrap().chain, chain, "{id}");
        }
        assert_eq!(
            ledger.lineage("skyvern", "wr_a").unwrap().next,
            Some(Retried {
                new_id: "wr_b".into(),
                run_id: "r1".into()
            })
        );
        assert_eq!(ledger.lineage("skyvern", "wr_c").unwrap().next, None);
        assert_eq!(
            ledger.lineage("other", "wr_a").unwrap().chain,
            ids(&["wr_a"]),
            "chains are per provider"
        );
        assert_eq!(
            ledger
                .chain_retries_since("skyvern", &chain, "2026-11-01T00:00:00Z")
                .unwrap(),
            2
        );
        assert_eq!(
            ledger.links_of_run("r2").unwrap(),
            [("wr_b".to_string(), "wr_c".to_string())]
        );
        // An older ledger opens again with its links kept.
        drop(ledger);
        let again = Ledger::open(&dir.path().join("ledger.db")).unwrap();
        assert_eq!(again.lineage("skyvern", "wr_b").unwrap().chain, chain);
    }

    #[test]
    fn a_link_back_to_an_earlier_id_ends_the_chain_instead_of_looping() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
        ledger
            .start_run("r1", "p", "x", "2026-11-23T00:00:00Z", false, None)
            .unwrap();
        for (id, new_id) in [("a", "b"), ("b", "a")] {
            let request = ledger
                .intent(&Intent {
                    run_id: "r1",
                    step: "retry",
                    provider: "x",
                    item_ids: &ids(&[id]),
                    method: "POST",
                    url: "u",
                    at: "2026-11-23T00:00:01Z",
                })
                .unwrap();
            let link = Link {
                provider: "x",
                item_id: id,
                new_id,
            };
            ledger
                .result_linked(request, Some(200), &[], &[link], "2026-11-23T00:00:02Z")
                .unwrap();
        }
        let lineage = ledger.lineage("x", "a").unwrap();
        assert_eq!(lineage.chain, ids(&["b", "a"]));
    }

    #[test]
    fn a_ledger_from_before_lineage_gets_its_links_from_the_stored_reports() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let ledger = Ledger::open(&path).unwrap();
        ledger
            .start_run("r1", "p", "skyvern", "2026-11-23T00:00:00Z", false, None)
            .unwrap();
        let request = ledger
            .intent(&Intent {
                run_id: "r1",
                step: "retry",
                provider: "skyvern",
                item_ids: &ids(&["wr_a"]),
                method: "POST",
                url: "u",
                at: "2026-11-23T00:00:01Z",
            })
            .unwrap();
        ledger
            .result(
                request,
                Some(200),
                &[("wr_a".into(), "retried".into(), None)],
                "2026-11-23T00:00:02Z",
            )
            .unwrap();
        let report = r#"{"items": [
            {"id": "wr_a", "outcome": "retried", "new_id": "wr_b"},
            {"id": "wr_x", "outcome": "skipped", "new_id": null},
            {"id": "wr_z", "outcome": "retried", "new_id": "wr_y"}
        ]}"#;
        ledger
            .finish_run(
                "r1",
                "finished",
                "2026-11-23T00:01:00Z",
                [3, 3, 1, 1, 0],
                report,
            )
            .unwrap();
        ledger.conn().execute_batch("DROP TABLE links").unwrap();
        drop(ledger);

        let ledger = Ledger::open(&path).unwrap();
        let lineage = ledger.lineage("skyvern", "wr_a").unwrap();
        assert_eq!(lineage.chain, ids(&["wr_a", "wr_b"]));
        assert_eq!(lineage.next.map(|n| n.run_id).as_deref(), Some("r1"));
        assert_eq!(
            ledger.links_of_run("r1").unwrap().len(),
            1,
            "an item with no request of its own in the run gets no link"
        );
        drop(ledger);
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.links_of_run("r1").unwrap().len(), 1, "migrated once");
    }
}
