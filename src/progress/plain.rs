//! Lines for a log rather than a terminal (CI, cron, `>> run.log`): each line starts with when it
//! was written (RFC 3339, UTC), or, with `--log-format json`, is one JSON object with stable keys:
//! `ts`, `event`, `text` (the plain line's words), and the event's own fields (`step`, `kind`,
//! `done`, `total`, the counters…).
//!
//! [`Plain`] shows progress this way: a line when a step starts and ends, and at most one per
//! [`PLAIN_INTERVAL`] between; a line whose words repeat the previous one is left out. [`LogWriter`] is the one place a log line is made, for progress and
//! for `--quiet`'s summary alike.
//!
//! Invariant: every line is redacted; in JSON each string is redacted before it is encoded, so a
//! secret with a character JSON escapes is still found.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::line::{self, Phase, StepView};
use super::steps::SharedSteps;
use super::{Event, Progress, pace_line, verbose_line};
use crate::secrets::Redactor;
use crate::style::Paint;

/// How often progress lines are printed at most between a step's start and end.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Text, each line after its timestamp.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// Makes log lines: see the module's documentation.
#[derive(Clone, Debug)]
pub struct LogWriter {
    format: LogFormat,
    /// Whether plain lines start with a timestamp (JSON lines always carry one).
    timestamps: bool,
    redactor: Redactor,
}

impl LogWriter {
    pub fn new(format: LogFormat, timestamps: bool, redactor: Redactor) -> LogWriter {
        LogWriter {
            format,
            timestamps,
            redactor,
        }
    }

    /// The line of `event` (its plain `text` and its `fields`) written at `at`, without a newline.
    pub(crate) fn render(
        &self,
        at: jiff::Timestamp,
        event: &str,
        text: &str,
        fields: Map<String, Value>,
    ) -> String {
        let ts = crate::time::rfc3339(at);
        match self.format {
            LogFormat::Plain if self.timestamps => self.redactor.redact(&format!("{ts} {text}")),
            LogFormat::Plain => self.redactor.redact(text),
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("ts".into(), Value::String(ts));
                object.insert("event".into(), Value::String(event.into()));
                object.insert("text".into(), Value::String(text.into()));
                for (key, value) in fields {
                    object.insert(key, value);
                }
                self.redactor
                    .redact_json(&Value::Object(object))
                    .to_string()
            }
        }
    }

    /// Write the line of `event` now to `out`; a write that fails is dropped (a log is no reason
    /// to stop a run).
    pub(crate) fn write(
        &self,
        out: &mut dyn Write,
        event: &str,
        text: &str,
        fields: Map<String, Value>,
    ) {
        let line = self.render(jiff::Timestamp::now(), event, text, fields);
        let _ = writeln!(out, "{line}");
    }
}

/// `value`'s fields as a map (an object; anything else gives none).
pub(crate) fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A step's line: its words and its fields.
pub(crate) fn step_record(view: &StepView) -> (&'static str, String, Map<String, Value>) {
    let text = line::render(view, None, false, Paint::none());
    let c = &view.counts;
    let (event, summary) = match &view.phase {
        Phase::Started => ("step_started", None),
        Phase::Running => ("step_progress", None),
        Phase::Finished(summary) => ("step_finished", Some(summary.clone())),
    };
    let mut map = fields(json!({
        "step": view.name,
        "kind": view.kind,
        "total": view.total,
        "done": c.done,
        "retried": c.retried,
        "failed": c.failed,
        "unknown": c.unknown,
        "not_sent": c.not_sent,
        "skipped": c.skipped,
        "backed_off": view.backoffs,
        "pace": view.pace,
    }));
    if let Some(summary) = summary {
        map.insert("summary".into(), Value::String(summary));
    }
    (event, text, map)
}

/// Progress as log lines on stderr.
pub struct Plain {
    verbose: bool,
    log: LogWriter,
    steps: SharedSteps,
    last: Mutex<Option<Instant>>,
    /// The words of the last step line printed: the same words again say nothing new.
    last_text: Mutex<String>,
}

impl Plain {
    pub fn new(verbose: bool, log: LogWriter) -> Plain {
        Plain {
            verbose,
            log,
            steps: SharedSteps::default(),
            last: Mutex::new(None),
            last_text: Mutex::new(String::new()),
        }
    }

    fn line(&self, event: &str, text: &str, fields: Map<String, Value>) {
        let mut err = std::io::stderr().lock();
        self.log.write(&mut err, event, text, fields);
    }

    /// Whether a progress line is due (at most one per interval).
    fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|l| l.elapsed() < PLAIN_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

impl Progress for Plain {
    fn event(&self, event: Event) {
        let view = self.steps.apply_now(&event);
        if let Some(view) = view {
            let (name, text, fields) = step_record(&view);
            let mut last_text = self.last_text.lock().unwrap_or_else(|e| e.into_inner());
            if *last_text == text || (view.phase == Phase::Running && !self.due()) {
                return;
            }
            self.line(name, &text, fields);
            *last_text = text;
            return;
        }
        match event {
            Event::Http {
                ref method,
                ref url,
                status,
                attempt,
            } if self.verbose => {
                let text = verbose_line(&event).unwrap_or_default();
                let fields = fields(json!({
                    "method": method, "url": url, "status": status, "attempt": attempt,
                }));
                self.line("request", &text, fields);
            }
            Event::Backoff { reason, wait } if self.verbose => {
                let text = format!("  backing off {}ms: {reason}", wait.as_millis());
                let fields = fields(json!({"wait_ms": wait.as_millis() as u64, "reason": reason}));
                self.line("backoff", &text, fields);
            }
            Event::Pace { pace, reason } if self.verbose => {
                let text = pace_line(&pace, &reason);
                let fields = fields(json!({"pace": pace, "reason": reason}));
                self.line("pace", &text, fields);
            }
            Event::Warning(text) => {
                let fields = fields(json!({ "message": text }));
                self.line("warning", &format!("warning: {text}"), fields);
            }
            _ => {}
        }
    }

    fn shows_requests(&self) -> bool {
        self.verbose
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> jiff::Timestamp {
        "2026-12-03T15:04:05.678Z".parse().expect("a timestamp")
    }

    #[test]
    fn request_events_are_asked_for_only_by_a_verbose_display() {
        let log = || LogWriter::new(LogFormat::Plain, false, Redactor::default());
        assert!(Plain::new(true, log()).shows_requests());
        assert!(!Plain::new(false, log()).shows_requests());
        assert!(!crate::progress::Quiet.shows_requests());
    }

    #[test]
    fn plain_lines_start_with_an_rfc3339_utc_timestamp() {
        let log = LogWriter::new(LogFormat::Plain, true, Redactor::default());
        assert_eq!(
            log.render(at(), "warning", "warning: slow", Map::new()),
            "2026-12-03T15:04:05Z warning: slow"
        );
        let bare = LogWriter::new(LogFormat::Plain, false, Redactor::default());
        assert_eq!(bare.render(at(), "warning", "hi", Map::new()), "hi");
    }

    #[test]
    fn json_lines_are_one_object_with_stable_keys_and_redacted_strings() {
        let redactor = Redactor::default();
        redactor.register_from(crate::secrets::SecretSource::Secret("s3\"cret"));
        let log = LogWriter::new(LogFormat::Json, false, redactor);
        let line = log.render(
            at(),
            "warning",
            "warning: token s3\"cret refused",
            fields(json!({"message": "token s3\"cret refused"})),
        );
        assert!(!line.contains('\n'));
        assert!(!line.contains("s3\\\"cret"), "{line}");
        let value: Value = serde_json::from_str(&line).expect("one JSON object");
        let keys: Vec<&str> = value
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["ts", "event", "text", "message"]);
        assert_eq!(value["ts"], "2026-12-03T15:04:05Z");
        assert_eq!(value["event"], "warning");
    }

    #[test]
    fn a_step_record_carries_its_counters_by_name() {
        let view = StepView {
            name: "failed".into(),
            kind: "fetch",
            total: None,
            counts: super::super::Counts {
                done: 14,
                ..Default::default()
            },
            backoffs: 0,
            elapsed: Duration::ZERO,
            pace: None,
            phase: Phase::Finished("14 items".into()),
        };
        let (event, text, fields) = step_record(&view);
        assert_eq!(
            (event, text.as_str()),
            ("step_finished", "fetch failed: 14 items")
        );
        assert_eq!(fields["done"], 14);
        assert_eq!(fields["not_sent"], 0);
        assert_eq!(fields["summary"], "14 items");
    }
}
