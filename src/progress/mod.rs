//! Progress of a run as events, and the three ways they are shown: bars on a terminal
//! ([`Bars`], indicatif redrawing lines rendered by [`line`]), timestamped lines when stderr is not
//! a terminal ([`Plain`]: CI logs, cron; `--log-format plain|json`), nothing with `--quiet`.
//!
//! The engine and the HTTP client only send events; they never print. Everything shown here goes to
//! stderr, so stdout stays the report. What a step's line says and how it fits a width is decided
//! once, in [`line`], for every display; [`steps`] keeps what the events told of each step.

mod bars;
pub(crate) mod line;
mod plain;
mod steps;
pub mod summary;

use std::time::Duration;

pub use bars::Bars;
pub use plain::{LogFormat, LogWriter, Plain};

/// Counts of a step's items so far (`done` counts every item, whatever became of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub done: u64,
    pub retried: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Retries that may or may not have been carried out: not counted as failed.
    pub unknown: u64,
    /// Items never sent because the run stopped first: not counted as failed.
    pub not_sent: u64,
}

/// What happened, as the engine and the client tell it.
#[derive(Clone, Debug)]
pub enum Event {
    StepStarted {
        step: String,
        kind: &'static str,
        total: Option<u64>,
    },
    StepProgress {
        step: String,
        total: Option<u64>,
        counts: Counts,
    },
    StepFinished {
        step: String,
        summary: String,
    },
    Http {
        method: String,
        url: String,
        status: Option<u16>,
        attempt: u32,
    },
    Backoff {
        reason: String,
        wait: Duration,
    },
    /// The adaptive pace (`rate: auto`) changed: the pace now (`12/s`) and why.
    Pace {
        pace: String,
        reason: String,
    },
    Warning(String),
}

/// Where the engine sends its events.
pub trait Progress: Send + Sync {
    fn event(&self, event: Event);

    /// Whether [`Event::Http`] is shown (`-v`). When it is not, the client builds none: a request
    /// event costs a redacted copy of its URL, per request.
    fn shows_requests(&self) -> bool {
        true
    }
}

/// The `-v` line of a request event.
fn verbose_line(event: &Event) -> Option<String> {
    match event {
        Event::Http {
            method,
            url,
            status,
            attempt,
        } => {
            let status = status.map_or("no answer".to_string(), |s| s.to_string());
            Some(format!("  {method} {url} → {status} (attempt {attempt})"))
        }
        _ => None,
    }
}

/// The `-v` line of a change of pace.
fn pace_line(pace: &str, reason: &str) -> String {
    format!("  pace {pace}: {reason}")
}

/// Shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: Event) {}

    fn shows_requests(&self) -> bool {
        false
    }
}
