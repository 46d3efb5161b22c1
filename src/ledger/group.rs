//! Group commit: the writes of a run's concurrent workers, committed together by one writer thread.
//!
//! Each retry's intent must be durable before its request leaves, and committing it alone costs a
//! transaction per item. Here every worker hands its write to one thread, which takes whatever
//! has queued up since its last commit (up to [`MAX_GROUP`]) and commits it in one transaction: the
//! more workers wait, the more one commit carries. Writes nobody needs now (answers, resolutions,
//! withdrawals, and intents [`Needed::Soon`]: their worker has committed intents ahead of it) are
//! held back (at most [`MAX_HOLD`]) to ride with the next commit someone needs now (an intent
//! [`Needed::Now`], a flush, a nudge): a commit rewrites much the same pages whether it carries
//! one write or forty. SQLite work also leaves the async runtime's threads, so requests keep
//! flowing while the ledger writes, and the writer sleeps until a write needs it ([`Inbox`]).
//!
//! Invariants:
//! - An intent's future resolves only after the transaction holding the intent committed, with the
//!   request's id, or with the error that kept it out: the caller sends nothing before then.
//! - Writes are applied in the order they were handed in (one queue, one thread): an answer
//!   never lands before its own intent, nor a resolution before the intent it resolves.
//! - Writes nobody needs now are committed with the next write needed now, or [`MAX_HOLD`] after
//!   the oldest of them was handed in, whichever comes first; [`GroupCommit::nudge`] commits them
//!   at once (a worker got its sending slot before its intent held back was committed);
//!   [`GroupCommit::flush`] returns once everything handed in before it is committed (end of a
//!   retry step, end of a run). A process killed before an answer was committed leaves its intent
//!   in flight: `--resume` checks the item, never resends it blindly — the same state as a kill
//!   just before the answer came. A withdrawal lost so leaves its never-sent intent in flight, the
//!   same state as a kill between an intent and its request.
//! - A group whose transaction fails is written again one write per transaction, so one bad write
//!   fails itself only, as when each write had its own transaction.
//! - Dropping the writer commits what is queued and ends the thread.
//!
//! Written by hand rather than with a crate: the batching is a few dozen lines over a mutex and a
//! condition variable, and it must share the ledger's one connection and its statements. A
//! channel (std's or crossbeam's) wakes the receiver for every message; the [`Inbox`] wakes the
//! writer only for a write that must not wait.

mod inbox;

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use self::inbox::Inbox;

use super::items::{Answered, Statements, answer_in, intent_in, resolve_in, withdraw_in};
use super::{Intent, Ledger, LedgerError, Link, err};
use crate::report::ItemOutcome;

/// Most writes one transaction carries: bounds how long one commit holds the ledger.
const MAX_GROUP: usize = 512;

/// Longest a write nobody waits for (an answer, a resolution, a withdrawal) is held back for a
/// commit that someone waits for: bounds what a kill can lose to in-flight intents in a quiet run.
const MAX_HOLD: Duration = Duration::from_millis(50);

/// An intent, owned, to cross to the writer thread.
struct OwnedIntent {
    run_id: String,
    step: String,
    provider: String,
    item_ids: Vec<String>,
    method: String,
    url: String,
    at: String,
}

/// An answer, owned: see [`Answered`].
pub(crate) struct OwnedAnswer {
    pub request_id: i64,
    pub http_status: Option<u16>,
    pub outcomes: Vec<(String, ItemOutcome, Option<String>)>,
    /// (item id, new id) under `provider`.
    pub links: Vec<(String, String)>,
    pub provider: String,
    pub at: String,
}

/// An in-flight request found carried out: see [`Ledger::resolve_in_flight`].
pub(crate) struct Resolution {
    pub run_id: String,
    pub provider: String,
    pub item_id: String,
    pub outcome: ItemOutcome,
    pub message: Option<String>,
}

enum Job {
    /// An intent, and whether its worker needs it committed now (see [`GroupCommit::intent`]).
    Intent(
        OwnedIntent,
        Needed,
        oneshot::Sender<Result<i64, LedgerError>>,
    ),
    Answer(OwnedAnswer),
    Resolve(Resolution),
    Withdraw(i64),
    Flush(oneshot::Sender<()>),
    /// Commit what is held now: a worker's sending slot came before its intent was committed.
    Nudge,
}

/// When a worker needs its intent committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needed {
    /// Its request is next to leave (or nothing committed waits to go before it): commit at once.
    Now,
    /// Enough committed intents wait to leave before it: it may be held, like an answer, to ride
    /// with the next commit someone needs now (at most [`MAX_HOLD`]).
    Soon,
}

/// The writer: see the module's documentation.
pub(crate) struct GroupCommit {
    inbox: Option<Arc<Inbox>>,
    thread: Option<JoinHandle<()>>,
    #[cfg(test)]
    commits: Arc<std::sync::atomic::AtomicU64>,
}

impl GroupCommit {
    /// Start the writer thread over `ledger`. `warn` hears of answers and resolutions that could
    /// not be written (nobody waits for them).
    pub(crate) fn start(
        ledger: Arc<Ledger>,
        warn: impl Fn(LedgerError) + Send + 'static,
    ) -> GroupCommit {
        GroupCommit::holding(ledger, warn, MAX_HOLD)
    }

    /// [`GroupCommit::start`], holding writes nobody waits for at most `hold`.
    fn holding(
        ledger: Arc<Ledger>,
        warn: impl Fn(LedgerError) + Send + 'static,
        hold: Duration,
    ) -> GroupCommit {
        let inbox = Arc::new(Inbox::default());
        #[cfg(test)]
        let commits = Arc::new(std::sync::atomic::AtomicU64::new(0));
        #[cfg(test)]
        let counted = Arc::clone(&commits);
        let taken = Arc::clone(&inbox);
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                while let Some(group) = taken.take(hold) {
                    let replies = if writes(&group) {
                        let mut conn = ledger.conn();
                        let replies = commit(&mut conn, &group);
                        drop(conn);
                        #[cfg(test)]
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        replies
                    } else {
                        group.iter().map(|_| Ok(None)).collect()
                    };
                    reply(group, replies, &warn);
                }
            });
        let (inbox, thread) = match thread {
            Ok(thread) => (Some(inbox), Some(thread)),
            // No thread: every write fails as the ledger's would, and the run stops at its first
            // intent rather than sending what it cannot record.
            Err(_) => (None, None),
        };
        GroupCommit {
            inbox,
            thread,
            #[cfg(test)]
            commits,
        }
    }

    fn send(&self, job: Job) -> Result<(), LedgerError> {
        self.inbox
            .as_ref()
            .ok_or(LedgerError::WriterStopped)?
            .hand_in(job)
    }

    /// Hand in the intent of a request about to leave. The write is queued at once; the future
    /// resolves once its group committed, with the request's id.
    /// An intent [`Needed::Soon`] may be held back to ride with a later commit; [`GroupCommit::nudge`]
    /// commits it at once should its worker need it before then.
    pub(crate) fn intent(
        &self,
        intent: &Intent<'_>,
        needed: Needed,
    ) -> impl Future<Output = Result<i64, LedgerError>> + use<> {
        let (done, committed) = oneshot::channel();
        let owned = OwnedIntent {
            run_id: intent.run_id.to_string(),
            step: intent.step.to_string(),
            provider: intent.provider.to_string(),
            item_ids: intent.item_ids.to_vec(),
            method: intent.method.to_string(),
            url: intent.url.to_string(),
            at: intent.at.to_string(),
        };
        let queued = self.send(Job::Intent(owned, needed, done));
        async move {
            queued?;
            committed.await.map_err(|_| LedgerError::WriterStopped)?
        }
    }

    /// Commit what is held at once (a worker needs its intent held as [`Needed::Soon`] now).
    pub(crate) fn nudge(&self) {
        // A writer gone fails the intent itself; nothing to say here.
        let _ = self.send(Job::Nudge);
    }

    /// Hand in an answer; written with the next group.
    pub(crate) fn answer(&self, answer: OwnedAnswer) -> Result<(), LedgerError> {
        self.send(Job::Answer(answer))
    }

    /// Hand in a resolution; written with the next group.
    pub(crate) fn resolve(&self, resolution: Resolution) -> Result<(), LedgerError> {
        self.send(Job::Resolve(resolution))
    }

    /// Hand in the withdrawal of an intent whose request was never sent; written with the next
    /// group, after the intent itself.
    pub(crate) fn withdraw(&self, request_id: i64) -> Result<(), LedgerError> {
        self.send(Job::Withdraw(request_id))
    }

    /// Wait until everything handed in before this call is committed (or failed and warned).
    pub(crate) async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.send(Job::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }

    /// How many transactions the writer committed.
    #[cfg(test)]
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Closing the inbox ends the thread's loop once the queue is written.
        if let Some(inbox) = self.inbox.take() {
            inbox.close();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The outcome of each job of a group: an intent's request id, or `None`; an error per job.
type Replies = Vec<Result<Option<i64>, LedgerError>>;

/// Commit `group` in one transaction; if that fails, each write in its own.
fn commit(conn: &mut rusqlite::Connection, group: &[Job]) -> Replies {
    let together = conn.transaction().and_then(|tx| {
        let mut statements = Statements::new(&tx);
        let ids = group
            .iter()
            .map(|job| write(&mut statements, job))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(statements);
        tx.commit()?;
        Ok(ids)
    });
    match together {
        Ok(ids) => ids.into_iter().map(Ok).collect(),
        Err(_) => group
            .iter()
            .map(|job| {
                let tx = conn.transaction().map_err(err)?;
                let id = write(&mut Statements::new(&tx), job).map_err(err)?;
                tx.commit().map_err(err)?;
                Ok(id)
            })
            .collect(),
    }
}

/// One job's write inside the caller's transaction, through its `statements`.
fn write(statements: &mut Statements<'_>, job: &Job) -> rusqlite::Result<Option<i64>> {
    let conn = statements.conn;
    match job {
        Job::Intent(i, _, _) => intent_in(
            statements,
            &Intent {
                run_id: &i.run_id,
                step: &i.step,
                provider: &i.provider,
                item_ids: &i.item_ids,
                method: &i.method,
                url: &i.url,
                at: &i.at,
            },
        )
        .map(Some),
        Job::Answer(a) => {
            let links: Vec<Link<'_>> = a
                .links
                .iter()
                .map(|(item_id, new_id)| Link {
                    provider: &a.provider,
                    item_id,
                    new_id,
                })
                .collect();
            answer_in(
                statements,
                &Answered {
                    request_id: a.request_id,
                    http_status: a.http_status,
                    outcomes: &a.outcomes,
                    links: &links,
                    at: &a.at,
                },
            )
            .map(|()| None)
        }
        Job::Resolve(r) => resolve_in(
            conn,
            &r.run_id,
            &r.provider,
            &r.item_id,
            r.outcome,
            r.message.as_deref(),
        )
        .map(|()| None),
        Job::Withdraw(request_id) => withdraw_in(conn, *request_id).map(|()| None),
        Job::Flush(_) | Job::Nudge => Ok(None),
    }
}

/// Whether someone needs `job` committed now (an intent's worker, a flush, a nudge): then its
/// group commits now.
fn needed_now(job: &Job) -> bool {
    matches!(
        job,
        Job::Intent(_, Needed::Now, _) | Job::Flush(_) | Job::Nudge
    )
}

/// Whether `group` holds anything to write (not only flushes and nudges).
fn writes(group: &[Job]) -> bool {
    group
        .iter()
        .any(|job| !matches!(job, Job::Flush(_) | Job::Nudge))
}

/// Tell each waiting intent and flush how its group went; warn of the writes nobody waits for.
fn reply(group: Vec<Job>, replies: Replies, warn: &impl Fn(LedgerError)) {
    for (job, result) in group.into_iter().zip(replies) {
        match job {
            Job::Intent(_, _, done) => {
                let _ = done.send(result.and_then(|id| id.ok_or(LedgerError::WriterStopped)));
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Nudge => {}
            Job::Answer(_) | Job::Resolve(_) | Job::Withdraw(_) => {
                if let Err(e) = result {
                    warn(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Past;

    fn ledger() -> (tempfile::TempDir, Arc<Ledger>) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
        ledger
            .start_run("r1", "nightly", "http", "2026-11-23T00:00:00Z", false, None)
            .unwrap();
        (dir, Arc::new(ledger))
    }

    fn intent<'a>(run_id: &'a str, ids: &'a [String]) -> Intent<'a> {
        Intent {
            run_id,
            step: "retry",
            provider: "http",
            item_ids: ids,
            method: "POST",
            url: "u",
            at: "2026-11-23T00:00:01Z",
        }
    }

    /// A writer that holds writes nobody needs now for an hour: only a write needed now, a
    /// nudge or a flush commits them within a test.
    fn holding_for_an_hour(ledger: &Arc<Ledger>) -> GroupCommit {
        GroupCommit::holding(Arc::clone(ledger), no_warning, Duration::from_secs(3600))
    }

    fn no_warning(e: LedgerError) {
        panic!("unexpected ledger warning: {e}");
    }

    /// The point of group commit: eight workers' intents, handed in while the writer holds them,
    /// go out in one transaction, and each worker gets its own request id once it committed.
    #[tokio::test]
    async fn intents_handed_in_together_are_committed_in_one_transaction() {
        let (_dir, ledger) = ledger();
        // Held (needed soon) until the last one, needed now: handing eight in one after the other
        // to a writer that commits at once could race it into taking the first alone.
        let writer = holding_for_an_hour(&ledger);
        let ids: Vec<Vec<String>> = (0..8).map(|i| vec![format!("t{i}")]).collect();
        let pending: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let needed = if n == 7 { Needed::Now } else { Needed::Soon };
                writer.intent(&intent("r1", i), needed)
            })
            .collect();
        let mut request_ids = Vec::new();
        for p in pending {
            request_ids.push(p.await.unwrap());
        }
        assert_eq!(writer.commits(), 1, "one transaction for the eight intents");
        request_ids.sort();
        request_ids.dedup();
        assert_eq!(request_ids.len(), 8, "each intent has its own request");
        let past = ledger.past("r1").unwrap();
        for i in 0..8 {
            assert_eq!(past[&format!("t{i}")], Past::InFlight);
        }
    }

    /// Answers are not waited for, but a flush returns only once they are in the ledger, after the
    /// intents they answer.
    #[tokio::test]
    async fn a_flush_returns_once_the_answers_handed_in_before_it_are_committed() {
        let (_dir, ledger) = ledger();
        let writer = GroupCommit::start(Arc::clone(&ledger), no_warning);
        let ids = vec!["t1".to_string()];
        let request_id = writer
            .intent(&intent("r1", &ids), Needed::Now)
            .await
            .unwrap();
        writer
            .answer(OwnedAnswer {
                request_id,
                http_status: Some(200),
                outcomes: vec![("t1".into(), ItemOutcome::Retried, None)],
                links: vec![("t1".into(), "t1-new".into())],
                provider: "http".into(),
                at: "2026-11-23T00:00:02Z".into(),
            })
            .unwrap();
        writer.flush().await;
        let past = ledger.past("r1").unwrap();
        assert_eq!(
            past["t1"],
            Past::Done {
                outcome: ItemOutcome::Retried,
                message: None
            }
        );
        assert_eq!(
            ledger.links_of_run("r1").unwrap(),
            vec![("t1".to_string(), "t1-new".to_string())]
        );
    }

    fn answer(request_id: i64, id: &str) -> OwnedAnswer {
        OwnedAnswer {
            request_id,
            http_status: Some(200),
            outcomes: vec![(id.into(), ItemOutcome::Retried, None)],
            links: Vec::new(),
            provider: "http".into(),
            at: "2026-11-23T00:00:02Z".into(),
        }
    }

    /// An answer nobody waits for is not a commit of its own: it rides with the next intent.
    #[tokio::test]
    async fn an_answer_is_held_back_and_committed_with_the_next_intent() {
        let (_dir, ledger) = ledger();
        let writer = holding_for_an_hour(&ledger);
        let (a, b) = (vec!["a".to_string()], vec!["b".to_string()]);
        let first = writer.intent(&intent("r1", &a), Needed::Now).await.unwrap();
        assert_eq!(writer.commits(), 1);
        writer.answer(answer(first, "a")).unwrap();
        writer.intent(&intent("r1", &b), Needed::Now).await.unwrap();
        assert_eq!(
            writer.commits(),
            2,
            "the answer rode with the second intent"
        );
        let past = ledger.past("r1").unwrap();
        assert_eq!(
            past["a"],
            Past::Done {
                outcome: ItemOutcome::Retried,
                message: None
            }
        );
        assert_eq!(past["b"], Past::InFlight);
    }

    /// Held back at most the hold: with nothing else coming, an answer is committed alone.
    #[tokio::test]
    async fn an_answer_alone_is_committed_once_its_hold_is_over() {
        let (_dir, ledger) = ledger();
        let writer = GroupCommit::holding(Arc::clone(&ledger), no_warning, Duration::ZERO);
        let ids = vec!["a".to_string()];
        let request_id = writer
            .intent(&intent("r1", &ids), Needed::Now)
            .await
            .unwrap();
        writer.answer(answer(request_id, "a")).unwrap();
        // A bounded poll of the ledger, not a sleep: the writer commits on its own.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while ledger.past("r1").unwrap()["a"] == Past::InFlight {
            assert!(
                std::time::Instant::now() < deadline,
                "the answer was never committed"
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(writer.commits(), 2);
    }

    /// An intent needed only soon is held like an answer: it rides with the next intent needed
    /// now, one commit for both, and each worker gets its own request id.
    #[tokio::test]
    async fn an_intent_needed_soon_rides_with_the_next_one_needed_now() {
        let (_dir, ledger) = ledger();
        let writer = holding_for_an_hour(&ledger);
        let (a, b) = (vec!["a".to_string()], vec!["b".to_string()]);
        let soon = writer.intent(&intent("r1", &a), Needed::Soon);
        let now = writer.intent(&intent("r1", &b), Needed::Now).await.unwrap();
        let soon = soon.await.unwrap();
        assert_eq!(writer.commits(), 1, "one transaction for both intents");
        assert!(soon < now, "written in the order handed in");
        let past = ledger.past("r1").unwrap();
        assert_eq!(past["a"], Past::InFlight);
        assert_eq!(past["b"], Past::InFlight);
    }

    /// A nudge commits a held intent at once (its worker got its sending slot first), and a nudge
    /// with nothing held commits nothing.
    #[tokio::test]
    async fn a_nudge_commits_a_held_intent_at_once() {
        let (_dir, ledger) = ledger();
        let writer = holding_for_an_hour(&ledger);
        writer.nudge();
        writer.flush().await;
        assert_eq!(writer.commits(), 0, "nothing held, nothing committed");
        let a = vec!["a".to_string()];
        let soon = writer.intent(&intent("r1", &a), Needed::Soon);
        writer.nudge();
        // Held for an hour otherwise: only the nudge can have committed it.
        soon.await.unwrap();
        assert_eq!(writer.commits(), 1);
        assert_eq!(ledger.past("r1").unwrap()["a"], Past::InFlight);
    }

    /// An intent whose request never left is withdrawn: the ledger holds no trace of it, so a
    /// resumed run sends the item like any other not sent.
    #[tokio::test]
    async fn a_withdrawn_intent_leaves_no_trace() {
        let (_dir, ledger) = ledger();
        let writer = GroupCommit::start(Arc::clone(&ledger), no_warning);
        let (a, b) = (vec!["a".to_string()], vec!["b".to_string()]);
        let kept = writer.intent(&intent("r1", &a), Needed::Now).await.unwrap();
        let withdrawn = writer.intent(&intent("r1", &b), Needed::Now).await.unwrap();
        writer.withdraw(withdrawn).unwrap();
        writer.flush().await;
        let past = ledger.past("r1").unwrap();
        assert_eq!(past.len(), 1, "{past:?}");
        assert_eq!(past["a"], Past::InFlight);
        assert!(kept < withdrawn);
        assert_eq!(ledger.unanswered("http", "b").unwrap(), None);
    }

    /// One write that cannot be made (an intent of a run the ledger does not have) fails alone:
    /// the others of its group are committed, and its worker hears the error.
    #[tokio::test]
    async fn a_write_that_fails_fails_alone_and_its_group_is_committed() {
        let (_dir, ledger) = ledger();
        let writer = GroupCommit::start(Arc::clone(&ledger), no_warning);
        let (a, b, c) = (
            vec!["a".to_string()],
            vec!["b".to_string()],
            vec!["c".to_string()],
        );
        let busy = ledger.conn();
        let first = writer.intent(&intent("r1", &a), Needed::Now);
        let orphan = writer.intent(&intent("no-such-run", &b), Needed::Now);
        let last = writer.intent(&intent("r1", &c), Needed::Now);
        drop(busy);
        assert!(first.await.is_ok());
        assert!(orphan.await.is_err(), "an intent of no run is refused");
        assert!(last.await.is_ok());
        let past = ledger.past("r1").unwrap();
        assert_eq!(past.len(), 2, "{past:?}");
        assert_eq!(past["a"], Past::InFlight);
        assert_eq!(past["c"], Past::InFlight);
    }
}
