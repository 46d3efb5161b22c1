//! Progress of a run as events, and the three ways they are shown: bars on a terminal (indicatif),
//! plain periodic lines when stderr is not a terminal (CI logs), nothing with `--quiet`.
//!
//! The engine and the HTTP client only send events; they never print. Everything shown here goes to
//! stderr, so stdout stays the report.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::secrets::Redactor;

/// Counts of a step's items so far.
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
    Warning(String),
}

pub trait Progress: Send + Sync {
    fn event(&self, event: Event);
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

/// Shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: Event) {}
}

/// How often plain progress lines are printed at most.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// Plain lines on stderr: a line when a step starts and ends, and at most one per interval between.
pub struct Plain {
    verbose: bool,
    redactor: Redactor,
    last: Mutex<Option<Instant>>,
    backoffs: Mutex<u64>,
}

impl Plain {
    pub fn new(verbose: bool, redactor: Redactor) -> Plain {
        Plain {
            verbose,
            redactor,
            last: Mutex::new(None),
            backoffs: Mutex::new(0),
        }
    }

    fn line(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}", self.redactor.redact(text));
    }
}

impl Progress for Plain {
    fn event(&self, event: Event) {
        match event {
            Event::StepStarted { step, kind, total } => {
                *self.backoffs.lock().unwrap_or_else(|e| e.into_inner()) = 0;
                let total = total.map(|t| format!(" ({t} items)")).unwrap_or_default();
                self.line(&format!("[{step}] {kind} started{total}"));
            }
            Event::StepProgress {
                step,
                total,
                counts,
            } => {
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_some_and(|l| l.elapsed() < PLAIN_INTERVAL) {
                    return;
                }
                *last = Some(Instant::now());
                drop(last);
                let backoffs = *self.backoffs.lock().unwrap_or_else(|e| e.into_inner());
                let total = total.map(|t| format!("/{t}")).unwrap_or_default();
                self.line(&format!(
                    "[{step}] {}{total} done: {} retried, {} skipped, {} failed, {backoffs} backed off",
                    counts.done, counts.retried, counts.skipped, counts.failed
                ));
            }
            Event::StepFinished { step, summary } => self.line(&format!("[{step}] {summary}")),
            Event::Http { .. } if self.verbose => {
                self.line(&verbose_line(&event).unwrap_or_default());
            }
            Event::Http { .. } => {}
            Event::Backoff { reason, wait } => {
                *self.backoffs.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                if self.verbose {
                    self.line(&format!("  backing off {}ms: {reason}", wait.as_millis()));
                }
            }
            Event::Warning(text) => self.line(&format!("warning: {text}")),
        }
    }
}

/// indicatif bars, one per running step.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    backoffs: Mutex<u64>,
    verbose: bool,
    redactor: Redactor,
}

impl Bars {
    pub fn new(verbose: bool, redactor: Redactor) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
            backoffs: Mutex::new(0),
            verbose,
            redactor,
        }
    }
}

impl Progress for Bars {
    fn event(&self, event: Event) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::StepStarted { step, kind, total } => {
                *self.backoffs.lock().unwrap_or_else(|e| e.into_inner()) = 0;
                let bar = match total {
                    Some(t) => {
                        let bar = self.multi.add(ProgressBar::new(t));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                        bar
                    }
                    None => {
                        let bar = self.multi.add(ProgressBar::new_spinner());
                        bar.set_style(
                            ProgressStyle::with_template("{prefix:>10} {spinner} {pos} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bar
                    }
                };
                bar.set_prefix(format!("{step} ({kind})"));
                bars.insert(step, bar);
            }
            Event::StepProgress {
                step,
                total: _,
                counts,
            } => {
                if let Some(bar) = bars.get(&step) {
                    let backoffs = *self.backoffs.lock().unwrap_or_else(|e| e.into_inner());
                    bar.set_position(counts.done);
                    bar.set_message(format!(
                        "retried {} failed {} skipped {} backed off {backoffs}",
                        counts.retried, counts.failed, counts.skipped
                    ));
                }
            }
            Event::StepFinished { step, summary } => {
                if let Some(bar) = bars.remove(&step) {
                    bar.finish_with_message(self.redactor.redact(&summary));
                }
            }
            Event::Http { .. } if self.verbose => {
                let line = verbose_line(&event).unwrap_or_default();
                let _ = self.multi.println(self.redactor.redact(&line));
            }
            Event::Http { .. } => {}
            Event::Backoff { reason, wait } => {
                *self.backoffs.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                if self.verbose {
                    let _ = self.multi.println(
                        self.redactor
                            .redact(&format!("  backing off {}ms: {reason}", wait.as_millis())),
                    );
                }
            }
            Event::Warning(text) => {
                let _ = self
                    .multi
                    .println(self.redactor.redact(&format!("warning: {text}")));
            }
        }
    }
}
