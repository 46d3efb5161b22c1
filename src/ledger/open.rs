//! Opening the ledger, and refusing, with one message that names the file, what is wrong and what
//! to do, anything that cannot serve as one.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

use super::checkpoint::{Checkpointer, WAL_CHECKPOINT_PAGES, writer_busy};
use super::schema::{BUSY_TIMEOUT, check_schema, migrate, set_wal};
use super::{Ledger, LedgerError};

/// The connection's page cache, in KiB (SQLite's default is 2 MiB). Every retry inserts into the
/// index of items by id at a random leaf (ids come in listing order); at 100,000 items that index
/// is about 5 MB, and with 2 MiB the writer read about 35,000 pages back from the file during a
/// run. With 8 MiB the writer's reads are gone at 100,000 (the process's `pread64`s 67,305 ->
/// 32,263, the rest the checkpoint thread's) for at most 6 MB more memory (bench/notes.md, "Retry
/// throughput: session 17"). SQLite allocates the pages only as they are used.
const PAGE_CACHE_KIB: i64 = 8 * 1024;

/// The one message for a ledger that cannot be used: its path, what is wrong, what to do.
pub(super) fn unusable(path: &Path, what: &str, fix: &str) -> LedgerError {
    LedgerError::Unusable {
        path: path.to_path_buf(),
        what: what.to_string(),
        fix: fix.to_string(),
    }
}

/// A SQLite error met while opening the ledger, said in those terms.
pub(super) fn explain(path: &Path, e: &rusqlite::Error) -> LedgerError {
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
fn check_file(path: &Path) -> Result<(), LedgerError> {
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
fn check_header(path: &Path) -> Result<(), LedgerError> {
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

/// A ledger of another program, or of a runbook whose schema this one does not know.
fn not_ours(path: &Path, what: &str) -> LedgerError {
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

impl Ledger {
    /// Open (creating it and its folder if needed) the ledger at `path`.
    ///
    /// A ledger that cannot be used — not a SQLite file, damaged, of another schema, read-only, a
    /// directory — is refused here, before any run starts, with one message that names the path,
    /// what is wrong and what to do ([`unusable`]). Several processes may open the same ledger at
    /// once (runs of different playbooks): the setup waits for the others instead of failing
    /// with "database is locked".
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
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
        conn.busy_handler(Some(writer_busy))
            .map_err(|e| explain(path, &e))?;
        set_wal(&conn).map_err(|e| explain(path, &e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| explain(path, &e))?;
        // A checkpoint syncs the file twice and stalls the writer meanwhile; at SQLite's default
        // (every 1,000 pages) a retry run checkpointed every few hundred items. The checkpoint
        // thread takes them over below; this is the rate if it cannot. See `checkpoint`.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            .map_err(|e| explain(path, &e))?;
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)
            .map_err(|e| explain(path, &e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| explain(path, &e))?;
        check_schema(&conn, false).map_err(|what| not_ours(path, &what))?;
        // One writer creates the tables (and fills a new `links` table); a second process waits
        // for it (busy timeout) rather than interleaving its own `CREATE ... IF NOT EXISTS` with
        // the first one's.
        migrate(&mut conn).map_err(|e| explain(path, &e))?;
        check_schema(&conn, true).map_err(|what| not_ours(path, &what))?;
        // An in-memory ledger (`:memory:`, for the bench) has no log to checkpoint.
        let wal = conn
            .pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))
            .is_ok_and(|mode| mode.eq_ignore_ascii_case("wal"));
        let checkpoints = wal
            .then(|| Checkpointer::start(path, &mut conn, WAL_CHECKPOINT_PAGES))
            .flatten();
        Ok(Ledger {
            path: path.to_path_buf(),
            checkpoints,
            conn: Mutex::new(conn),
        })
    }

    /// Open an existing ledger only to read it (`history`, `show`): a read-only ledger will do,
    /// and nothing in it is created or changed. Refused as [`Ledger::open`] refuses.
    pub fn open_to_read(path: &Path) -> Result<Ledger, LedgerError> {
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
            checkpoints: None,
            conn: Mutex::new(conn),
        })
    }
}
