//! Progress on a terminal: one line per step, redrawn in place by indicatif. The line's words
//! are [`super::line`]'s, fitted to the terminal's width as it is at each redraw (read again every
//! time: a resized window is honoured), so a line never wraps.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::line::{self, Phase};
use super::steps::SharedSteps;
use super::{Event, Progress, pace_line, verbose_line};
use crate::secrets::Redactor;
use crate::style::Paint;

/// Columns kept free at the right edge: some terminals wrap a line that fills the last column.
const MARGIN: usize = 1;

/// indicatif lines, one per running step.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    steps: SharedSteps,
    verbose: bool,
    redactor: Redactor,
    paint: Paint,
}

impl Bars {
    pub fn new(verbose: bool, redactor: Redactor, paint: Paint) -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            steps: SharedSteps::default(),
            verbose,
            redactor,
            paint,
        }
    }

    fn println(&self, text: &str) {
        let _ = self.multi.println(self.redactor.redact(text));
    }
}

/// The terminal's width now, less the margin; none when it cannot be read.
fn width() -> Option<usize> {
    console::Term::stderr()
        .size_checked()
        .map(|(_, columns)| usize::from(columns).saturating_sub(MARGIN).max(1))
}

impl Progress for Bars {
    fn event(&self, event: Event) {
        let view = self.steps.apply_now(&event);
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(view) = view {
            if view.phase == Phase::Started {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(250));
                bars.insert(view.name.clone(), bar);
            }
            let text = self
                .redactor
                .redact(&line::render(&view, width(), true, self.paint));
            match view.phase {
                Phase::Finished(_) => {
                    if let Some(bar) = bars.remove(&view.name) {
                        bar.finish_with_message(text);
                    }
                }
                _ => {
                    if let Some(bar) = bars.get(&view.name) {
                        bar.set_message(text);
                    }
                }
            }
            return;
        }
        drop(bars);
        match event {
            Event::Http { .. } if self.verbose => {
                self.println(&verbose_line(&event).unwrap_or_default());
            }
            Event::Backoff { reason, wait } if self.verbose => {
                self.println(&format!("  backing off {}ms: {reason}", wait.as_millis()));
            }
            Event::Pace { pace, reason } if self.verbose => {
                self.println(&pace_line(&pace, &reason))
            }
            Event::Warning(text) => self.println(&format!("warning: {text}")),
            _ => {}
        }
    }

    fn shows_requests(&self) -> bool {
        self.verbose
    }
}
