//! Checkpoints off the writer's path: a thread with its own connection copies the write-ahead log
//! into the database, so a commit never waits for the two syncs a checkpoint makes.
//!
//! SQLite checkpoints inside the commit that takes the log past `wal_autocheckpoint` pages: that
//! commit syncs the log and the database and copies every page meanwhile. A run's intents wait for
//! their commit, so each checkpoint stalled every request (`strace -f -w` of 20,000 retries: 23
//! syncs of ~50 ms each on a shared disk). Here the writing connection's automatic checkpoints
//! are off; its log hook tells this thread when the log passes [`WAL_CHECKPOINT_PAGES`], and the
//! thread checkpoints PASSIVE (alongside the writer's commits, copying everything committed so
//! far; again while what was committed meanwhile shrinks) then RESTART (the last few frames, the
//! writer held back only that long), so the next commit starts the log again from its beginning:
//! the log stays near [`WAL_CHECKPOINT_PAGES`] however long the run. When a run's steps are done,
//! [`Checkpointer::now`] has it checkpoint at once and empty the log (TRUNCATE) while the report
//! renders, so that closing the ledger has little left to copy, sync and remove.
//!
//! Invariants:
//! - Durability is SQLite's: a checkpoint only copies committed frames, synced first.
//! - The thread's connection is closed before the ledger's own ([`Checkpointer`] is dropped
//!   first), so the ledger's connection is the last one and closing it checkpoints what is left
//!   and removes the log, as before.
//! - A checkpoint that fails (the ledger busy in another process) is tried again at the next
//!   signal; meanwhile the log grows, and the ledger stays correct.
//!
//! Written by hand: the policy is a dozen lines over SQLite's own checkpoint modes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::schema::BUSY_TIMEOUT;

/// How many pages the write-ahead log grows to before the thread checkpoints it. Most pages of a
/// run's log are the same few b-tree leaves written again, so a longer log copies barely more
/// pages and syncs less often. At 4 KiB pages the log peaks at about 40 MB during a large run and
/// is removed when the ledger is closed.
pub(super) const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// How often, and how many times, the checkpoint connection tries again for the writer's lock or
/// for readers to leave the log (RESTART): about 100 ms in all. RESTART holds the writer back
/// while it waits for readers, and the writer itself is one for an instant at each try of its
/// own; SQLite's own handler sleeps 1, 2, 5, 10 ms… on both sides, and the two missed each other
/// for 30-100 ms at every checkpoint (`strace -f -T`, 20,000 retries).
const CHECKPOINT_PAUSE: Duration = Duration::from_micros(50);
const CHECKPOINT_TRIES: i32 = 2_000;

/// The writer's pause before its `tries`-th new try for a lock another connection holds (the
/// checkpoint thread's RESTART, or another process's write): 100 µs for the first 5 ms, 1 ms
/// after; `None` once about [`BUSY_TIMEOUT`] has passed. A RESTART holds the writer a few
/// milliseconds; SQLite's own handler (1, 2, 5, 10, 15, 20, 25 ms…) overslept it by up to 25 ms.
pub(super) fn writer_pause(tries: i32) -> Option<Duration> {
    const SHORT: i32 = 50;
    let (short, long) = (tries.min(SHORT), (tries - SHORT).max(0));
    let waited = Duration::from_micros(100) * short.unsigned_abs()
        + Duration::from_millis(1) * long.unsigned_abs();
    (waited < BUSY_TIMEOUT).then(|| {
        if tries < SHORT {
            Duration::from_micros(100)
        } else {
            Duration::from_millis(1)
        }
    })
}

/// [`writer_pause`] as SQLite's busy handler: sleep and try again, or give up.
pub(super) fn writer_busy(tries: i32) -> bool {
    writer_pause(tries).map(std::thread::sleep).is_some()
}

/// The checkpoint connection's busy handler: see [`CHECKPOINT_PAUSE`].
fn checkpoint_busy(tries: i32) -> bool {
    tries < CHECKPOINT_TRIES && {
        std::thread::sleep(CHECKPOINT_PAUSE);
        true
    }
}

/// The checkpoint thread of one ledger, started when its log first passes the threshold or when
/// a run's steps are done ([`Checkpointer::now`]; a read-only command never has one): see the
/// module's documentation.
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
    stop: Arc<AtomicBool>,
    /// Set by [`Checkpointer::now`]: the next checkpoint also truncates the log.
    last: Arc<AtomicBool>,
    /// What starts the thread, until it runs: the log hook's or [`Checkpointer::now`]'s to take.
    idle: Arc<Mutex<Option<Idle>>>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
    #[cfg(test)]
    pub(super) done: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpointer")
    }
}

/// What the thread needs, held by the log hook until the thread starts.
struct Idle {
    signals: Receiver<()>,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    /// Set by [`Checkpointer::now`]: the next checkpoint also truncates the log.
    last: Arc<AtomicBool>,
    #[cfg(test)]
    done: Arc<std::sync::atomic::AtomicU64>,
}

impl Idle {
    fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("ledger-checkpoint".into())
            .spawn(move || {
                let mut own: Option<Connection> = None;
                while self.signals.recv().is_ok() && !self.stop.load(Ordering::Acquire) {
                    if own.is_none() {
                        own = connect(&self.path).ok();
                    }
                    if let Some(own) = &own {
                        // A failure is tried again at the next signal (module doc).
                        let last = self.last.swap(false, Ordering::AcqRel);
                        let _ = checkpoint(own, last);
                        #[cfg(test)]
                        self.done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
    }
}

fn lock<T>(slot: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

impl Checkpointer {
    /// Take over the checkpoints of `conn` (the ledger at `path`, in WAL mode): once its log
    /// passes `pages`, the thread (started then) checkpoints it. Should the thread not start, the
    /// commit that passed `pages` checkpoints as SQLite's automatic checkpoint would. `None` (and
    /// `conn` keeps SQLite's automatic checkpoints) if the hook cannot be set.
    pub(super) fn start(path: &Path, conn: &mut Connection, pages: i64) -> Option<Checkpointer> {
        let (wake, signals) = mpsc::sync_channel::<()>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let last = Arc::new(AtomicBool::new(false));
        let thread = Arc::new(Mutex::new(None));
        #[cfg(test)]
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let idle = Arc::new(Mutex::new(Some(Idle {
            signals,
            path: path.to_path_buf(),
            stop: Arc::clone(&stop),
            last: Arc::clone(&last),
            #[cfg(test)]
            done: Arc::clone(&done),
        })));
        let (signal, waiting, slot) = (wake.clone(), Arc::clone(&idle), Arc::clone(&thread));
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, frames| {
            if i64::from(frames) < pages {
                return Ok(());
            }
            // Without the thread, the commit checkpoints. An error here would fail the commit
            // that called the hook, though it committed.
            if !wake_thread(&waiting, &slot, &signal) {
                let _ = wal.checkpoint_v2(rusqlite::wal::CheckpointMode::PASSIVE);
            }
            Ok(())
        }))
        .ok()?;
        Some(Checkpointer {
            wake,
            stop,
            last,
            idle,
            thread,
            #[cfg(test)]
            done,
        })
    }
}

impl Checkpointer {
    /// Checkpoint now, on the thread (started if it was not), whatever the log's length: the
    /// writer is done for a while (a run's last write), so the pages the run wrote reach the
    /// database while the caller does other work, and closing the ledger copies only what is
    /// written after this. Whether the thread was asked (it could not be started otherwise).
    pub(super) fn now(&self) -> bool {
        self.last.store(true, Ordering::Release);
        wake_thread(&self.idle, &self.thread, &self.wake)
    }
}

/// Start the thread if it was not (from `idle`), and signal it; whether it runs.
fn wake_thread(
    idle: &Mutex<Option<Idle>>,
    thread: &Mutex<Option<JoinHandle<()>>>,
    wake: &SyncSender<()>,
) -> bool {
    if let Some(idle) = lock(idle).take() {
        *lock(thread) = idle.spawn().ok();
    }
    let running = lock(thread).is_some();
    if running {
        // Full: a signal is already pending, and the thread will see this log too.
        let _ = wake.try_send(());
    }
    running
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Full: a signal is pending and the thread wakes to it and sees the stop.
        let _ = self.wake.try_send(());
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

/// The thread's own connection to the ledger, opened at its first checkpoint.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_handler(Some(checkpoint_busy))?;
    Ok(conn)
}

/// Frames committed during a PASSIVE checkpoint (so left for the next) few enough for RESTART to
/// copy and sync while the writer waits: about a millisecond's commits.
const RESTART_BACKLOG: i64 = 256;

/// PASSIVE checkpoints before RESTART at most: under a steady stream of commits the backlog may
/// stop shrinking.
const MAX_PASSIVE: usize = 8;

/// Copy the log into the database without holding the writer back (PASSIVE), again while the
/// frames committed meanwhile shrink, then copy the last few with the writer held back and have
/// its next commit start the log again (RESTART). RESTART syncs the log and the database while it
/// holds the writer: the PASSIVE rounds leave it little to copy, and [`presync`] little to sync.
///
/// A round is repeated until the frames that arrived while the previous one copied are few: a
/// PASSIVE round reports the log as it was when the round began, so one round of 10,000 frames
/// (~150 ms) that copied all it saw had ~4,000 more behind it, for RESTART to copy with the
/// writer waiting. Measured with timing printed per round and per commit (not kept), 20,000
/// retries at concurrency 8: before, RESTART held the writer 15-28 ms and commits stalled up to
/// 55-60 ms (workers waited ~0.9 s in all for their intents); after, RESTART ~10 ms, the slowest
/// commit 7-14 ms, workers waited 0.16-0.35 s, and the play took 1.60-1.69 s against 1.73-1.83 s
/// (four alternating pairs).
///
/// `last` (the run's writes are done: [`Checkpointer::now`]): TRUNCATE rather than RESTART, so the
/// log file is emptied here, on this thread, and closing the ledger does not free a log of
/// [`WAL_CHECKPOINT_PAGES`] pages (about 40 ms for 40 MB) on the run's own.
pub(super) fn checkpoint(conn: &Connection, last: bool) -> rusqlite::Result<()> {
    // The log's length when the previous round began: what a round sees beyond it arrived while
    // the previous round copied.
    let mut seen: Option<i64> = None;
    for _ in 0..MAX_PASSIVE {
        let (log, copied): (i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })?;
        if caught_up(seen, log, copied) {
            break;
        }
        seen = Some(log);
    }
    presync(conn);
    let last_round = if last {
        "PRAGMA wal_checkpoint(TRUNCATE)"
    } else {
        "PRAGMA wal_checkpoint(RESTART)"
    };
    conn.query_row(last_round, [], |_| Ok(()))
}

/// Whether a PASSIVE round that saw a log of `log` frames and copied `copied` leaves RESTART
/// little to copy: it copied nearly all it saw, and few frames arrived since the previous round
/// began (`seen`; for a first round, everything it saw arrived during no round at all).
fn caught_up(seen: Option<i64>, log: i64, copied: i64) -> bool {
    let arrived = seen.map_or(log, |seen| log - seen);
    log - copied <= RESTART_BACKLOG && arrived <= RESTART_BACKLOG
}

/// Sync the database file and its log through this thread's own handles, holding no lock: what
/// the PASSIVE rounds copied reaches the disk while the writer writes on, and RESTART, which
/// syncs both again while it holds the writer back, finds little left to sync (the sync of the
/// database after 10,000 frames took 20-60 ms). A file that cannot be opened or synced is left to
/// RESTART, as before.
fn presync(conn: &Connection) {
    let Some(database) = conn.path().filter(|p| !p.is_empty()) else {
        return;
    };
    for path in [database.to_string(), format!("{database}-wal")] {
        if let Ok(file) = std::fs::File::open(&path) {
            let _ = file.sync_data();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;

    use super::*;

    /// A database in WAL mode with one table, not synced (tests need no durability).
    fn wal_db(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "OFF").unwrap();
        conn.execute_batch("CREATE TABLE t (x TEXT)").unwrap();
        conn
    }

    /// `commits` transactions of ten rows of about a page each: ten log frames per commit.
    fn commit(conn: &Connection, commits: usize) {
        for _ in 0..commits {
            commit_rows(conn, 10);
        }
    }

    /// One transaction of `rows` rows of about a page each: about `rows` log frames.
    fn commit_rows(conn: &Connection, rows: usize) {
        conn.execute_batch(&format!(
            "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO t (x) SELECT printf('%.3000c', 'x') FROM n; COMMIT;"
        ))
        .unwrap();
    }

    /// The log's length in frames after each commit of `conn`, as SQLite reports it.
    fn log_length(conn: &mut Connection) -> Arc<AtomicI64> {
        let frames = Arc::new(AtomicI64::new(0));
        let seen = Arc::clone(&frames);
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, n| {
            seen.store(i64::from(n), Ordering::SeqCst);
            Ok(())
        }))
        .unwrap();
        frames
    }

    /// The log's length in frames after one more commit of `conn`.
    fn frames_after_one_commit(conn: &mut Connection) -> i64 {
        let frames = log_length(conn);
        commit(conn, 1);
        frames.load(Ordering::SeqCst)
    }

    /// The policy: after the thread's checkpoint, the writer's next commit starts the log again
    /// from its beginning instead of appending to it, so the log stays bounded while the writer
    /// writes on.
    #[test]
    fn after_a_checkpoint_the_next_commit_starts_the_log_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let mut writer = wal_db(&path);
        let frames = log_length(&mut writer);
        commit(&writer, 20);
        assert!(frames.load(Ordering::SeqCst) >= 200);
        checkpoint(&connect(&path).unwrap(), false).unwrap();
        let after = frames_after_one_commit(&mut writer);
        assert!(after <= 20, "the log was not started again: {after} frames");
    }

    /// Wait for the thread's first checkpoint: a bounded poll, not a sleep (the thread
    /// checkpoints on its own).
    fn first_checkpoint(checkpointer: &Checkpointer) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while checkpointer.done.load(Ordering::SeqCst) == 0 {
            assert!(std::time::Instant::now() < deadline, "never checkpointed");
            std::thread::yield_now();
        }
    }

    /// Once the writing connection's log passes the threshold, the thread checkpoints it: the
    /// pages are copied into the database file (it grows), and the log starts again.
    ///
    /// One commit passes the threshold: with several, a thread quick to start (or a writer slow
    /// to go on, on a loaded machine) checkpoints between them, and the commits after it fill the
    /// new log that the last assertion expects nearly empty.
    #[test]
    fn the_thread_checkpoints_once_the_log_passes_its_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let mut writer = wal_db(&path);
        let checkpointer = Checkpointer::start(&path, &mut writer, 100).unwrap();
        let empty = std::fs::metadata(&path).unwrap().len();
        commit_rows(&writer, 120);
        first_checkpoint(&checkpointer);
        drop(checkpointer);
        assert!(
            std::fs::metadata(&path).unwrap().len() > empty,
            "the checkpoint copied nothing into the database"
        );
        let after = frames_after_one_commit(&mut writer);
        assert!(after <= 20, "the log was not started again: {after} frames");
    }

    /// Asked to checkpoint now (a run's last write done), the thread starts, copies the log into
    /// the database however short it is, and empties the log file (TRUNCATE), so that closing the
    /// ledger has little left to copy and no long log to remove.
    #[test]
    fn asked_now_the_thread_checkpoints_a_short_log_and_empties_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let mut writer = wal_db(&path);
        let checkpointer = Checkpointer::start(&path, &mut writer, 1_000_000).unwrap();
        let empty = std::fs::metadata(&path).unwrap().len();
        commit(&writer, 20);
        let log = dir.path().join("l.db-wal");
        assert!(std::fs::metadata(&log).unwrap().len() > 0);
        assert_eq!(checkpointer.done.load(Ordering::SeqCst), 0);
        assert!(checkpointer.now(), "the thread did not start");
        first_checkpoint(&checkpointer);
        assert!(std::fs::metadata(&path).unwrap().len() > empty);
        assert_eq!(
            std::fs::metadata(&log).unwrap().len(),
            0,
            "the log file was not emptied"
        );
        drop(checkpointer);
        let after = frames_after_one_commit(&mut writer);
        assert!(after <= 20, "the log was not started again: {after} frames");
    }

    /// A round that copied all it saw is followed by another while many frames arrived during the
    /// previous one; rounds end once few arrived.
    #[test]
    fn passive_rounds_go_on_until_few_frames_arrived_during_the_last() {
        assert!(
            !caught_up(None, 10_000, 10_000),
            "a long log, copied: another round"
        );
        assert!(
            !caught_up(Some(10_000), 14_000, 14_000),
            "4,000 arrived meanwhile"
        );
        assert!(caught_up(Some(14_000), 14_100, 14_100));
        assert!(caught_up(None, 200, 200), "a short log, copied at once");
        assert!(
            !caught_up(Some(14_000), 14_100, 13_000),
            "a reader kept frames back"
        );
    }

    /// The writing connection never checkpoints itself: below the thread's threshold, 1,500
    /// frames stay in the log (SQLite's automatic checkpoint would have run at 1,000).
    #[test]
    fn below_the_threshold_nothing_is_checkpointed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let mut writer = wal_db(&path);
        let checkpointer = Checkpointer::start(&path, &mut writer, 1_000_000).unwrap();
        commit(&writer, 150);
        assert_eq!(checkpointer.done.load(Ordering::SeqCst), 0);
        drop(checkpointer);
        let after = frames_after_one_commit(&mut writer);
        assert!(after > 1500, "the log was checkpointed: {after} frames");
    }

    /// The thread's connection closes first, so closing the ledger still checkpoints what is
    /// left and removes the log, and what was written is in the database file alone.
    #[test]
    fn closing_the_ledger_leaves_no_log_and_keeps_its_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let ledger = crate::ledger::Ledger::open(&path).unwrap();
        assert!(
            ledger.checkpoints.is_some(),
            "a ledger on disk has its thread"
        );
        ledger
            .start_run("r1", "p", "http", "2026-11-23T00:00:00Z", false, None)
            .unwrap();
        drop(ledger);
        let log = dir.path().join("ledger.db-wal");
        assert!(!log.exists(), "{} was left behind", log.display());
        let ledger = crate::ledger::Ledger::open(&path).unwrap();
        assert!(ledger.has_run("r1").unwrap());
    }

    /// The writer tries again every 100 µs at first (a RESTART holds it a few milliseconds), then
    /// every millisecond, and gives up after the ledger's busy timeout, as the message for a
    /// ledger kept locked says.
    #[test]
    fn the_writer_tries_again_often_at_first_and_gives_up_after_the_busy_timeout() {
        assert_eq!(writer_pause(0), Some(Duration::from_micros(100)));
        assert_eq!(writer_pause(60), Some(Duration::from_millis(1)));
        let waited: Duration = (0..).map_while(writer_pause).sum();
        assert!(
            waited >= BUSY_TIMEOUT && waited <= BUSY_TIMEOUT + Duration::from_millis(1),
            "{waited:?}"
        );
    }
}
