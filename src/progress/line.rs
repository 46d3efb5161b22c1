//! One step's progress as one line of text, made to fit a width: a pure function of the step's
//! state, so that every layout (bars on a terminal, timestamped lines in a log) is tested at any
//! width without a terminal.
//!
//! Invariants:
//! - A line is a list of segments (the step's kind and name, its position, its counters, a bar, the
//!   rate, the ETA); one that does not fit is dropped whole, lowest priority first, so a number is
//!   never cut or wrapped. Only the step's name is ever shortened (with `…`), and only when nothing
//!   else is left to drop.
//! - Counters come in one order, the same while running and finished; a step shows its own kind's
//!   counters (a fetch its items, a retry its outcomes, a verify what it found).
//! - The rate has at most one decimal, and neither rate nor ETA is shown before [`RATE_AFTER`] has
//!   passed: before that they mean nothing.

use std::time::Duration;

use super::Counts;
use crate::style::{Paint, Tone};

/// No rate or ETA before the step has run this long.
pub(crate) const RATE_AFTER: Duration = Duration::from_secs(1);

/// Where a step is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Started,
    Running,
    /// Finished, with the engine's summary of it (`14 items`, `kept 3 of 14`, `aborted: …`).
    Finished(String),
}

/// What is known of one step, as its events told it.
#[derive(Clone, Debug)]
pub(crate) struct StepView {
    pub name: String,
    pub kind: &'static str,
    pub total: Option<u64>,
    pub counts: Counts,
    pub backoffs: u64,
    pub elapsed: Duration,
    /// The adaptive pace (`rate: auto`) last reported, if any.
    pub pace: Option<String>,
    pub phase: Phase,
}

/// A piece of a line: its text, how it is coloured, and how readily it is dropped (higher first).
#[derive(Clone, Debug)]
struct Segment {
    text: String,
    tone: Tone,
    drop_rank: u8,
}

fn seg(text: impl Into<String>, tone: Tone, drop_rank: u8) -> Segment {
    Segment {
        text: text.into(),
        tone,
        drop_rank,
    }
}

/// `12/20`, or `12` without a total.
fn position(view: &StepView) -> String {
    match view.total {
        Some(total) => format!("{}/{total}", view.counts.done),
        None => view.counts.done.to_string(),
    }
}

/// The step's counters, in their one order. Zero counters other than the first two are left out.
/// The first two go last when the width is short; `backed off` goes before the ETA.
fn counters(view: &StepView) -> Vec<Segment> {
    let c = &view.counts;
    let mut out = Vec::new();
    let mut push = |name: &str, n: u64, tone: Tone, always: bool| {
        if always || n > 0 {
            let tone = if n > 0 { tone } else { Tone::Plain };
            out.push(seg(format!("{name} {n}"), tone, if always { 1 } else { 2 }));
        }
    };
    match view.kind {
        "retry" => {
            push("retried", c.retried, Tone::Good, true);
            push("failed", c.failed, Tone::Bad, true);
            push("unknown", c.unknown, Tone::Warn, false);
            push("not sent", c.not_sent, Tone::Warn, false);
            push("skipped", c.skipped, Tone::Plain, false);
        }
        "verify" => {
            let pending = c.done.saturating_sub(c.retried + c.failed);
            push("recovered", c.retried, Tone::Good, true);
            push("still failing", c.failed, Tone::Bad, true);
            push("pending", pending, Tone::Warn, false);
        }
        _ => {}
    }
    if view.backoffs > 0 {
        out.push(seg(format!("backed off {}", view.backoffs), Tone::Plain, 4));
    }
    if let Some(pace) = view.pace.as_ref().filter(|_| view.kind == "retry") {
        out.push(seg(format!("pace {pace}"), Tone::Plain, 4));
    }
    out
}

/// `3.1/s` under 10 a second, `381/s` above; per minute under 0.1 a second.
pub(crate) fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second <= 0.0 {
        "0/s".into()
    } else if per_second < 0.1 {
        format!("{:.1}/min", per_second * 60.0)
    } else if per_second < 10.0 {
        format!("{per_second:.1}/s")
    } else {
        format!("{per_second:.0}/s")
    }
}

/// `45s`, `2m05s`, `1h02m`.
pub(crate) fn eta(left: Duration) -> String {
    let s = left.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `[=====>    ]`, `cells` wide inside the brackets.
fn bar(done: u64, total: u64, cells: usize) -> String {
    let filled = if total == 0 {
        cells
    } else {
        ((done.min(total) as f64 / total as f64) * cells as f64).floor() as usize
    };
    let mut text = String::with_capacity(cells + 2);
    text.push('[');
    for i in 0..cells {
        text.push(match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        });
    }
    text.push(']');
    text
}

/// The segments of `view`'s line; `bars` adds the bar (a terminal only).
fn segments(view: &StepView, bars: bool) -> Vec<Segment> {
    let mut out = Vec::new();
    match &view.phase {
        Phase::Started => {
            let what = match view.total {
                Some(t) => format!("started, {t} items"),
                None => "started".into(),
            };
            out.push(seg(what, Tone::Plain, 0));
        }
        Phase::Running | Phase::Finished(_) if matches!(view.kind, "retry" | "verify") => {
            out.push(seg(position(view), Tone::Plain, 0));
            if let (Some(total), Phase::Running, true) = (view.total, &view.phase, bars) {
                out.push(seg(bar(view.counts.done, total, 20), Tone::Plain, 6));
            }
            if view.phase == Phase::Running && view.elapsed >= RATE_AFTER && view.counts.done > 0 {
                let per_second = view.counts.done as f64 / view.elapsed.as_secs_f64();
                out.push(seg(rate(per_second), Tone::Plain, 5));
                if let Some(total) = view.total {
                    let left = total.saturating_sub(view.counts.done) as f64 / per_second;
                    out.push(seg(
                        format!("eta {}", eta(Duration::from_secs_f64(left.ceil().min(1e9)))),
                        Tone::Plain,
                        3,
                    ));
                }
            }
            out.extend(counters(view));
            if let Phase::Finished(summary) = &view.phase {
                if let Some(tone) = stop_tone(summary) {
                    out.push(seg(summary.clone(), tone, 1));
                } else if summary.starts_with("planned") || summary.starts_with("dry run") {
                    out.push(seg(summary.clone(), Tone::Plain, 1));
                }
            }
        }
        Phase::Running => {
            out.push(seg(format!("{} items", view.counts.done), Tone::Plain, 0));
            out.extend(counters(view));
        }
        Phase::Finished(summary) => {
            let tone = stop_tone(summary).unwrap_or(Tone::Plain);
            out.push(seg(summary.clone(), tone, 0));
            out.extend(counters(view));
        }
    }
    out
}

/// A summary that says the step stopped short reads as an error.
fn stop_tone(summary: &str) -> Option<Tone> {
    (summary.starts_with("aborted") || summary.starts_with("failed:")).then_some(Tone::Bad)
}

/// The head of every line: the step's kind, then its name when it has its own (`fetch failed`,
/// `retry`), so that a step named `failed` does not read as an error.
fn head(view: &StepView) -> String {
    if view.name == view.kind {
        format!("{}:", view.kind)
    } else {
        format!("{} {}:", view.kind, view.name)
    }
}

/// `view` as one line of at most `width` columns (none: no limit), painted by `paint`.
pub(crate) fn render(view: &StepView, width: Option<usize>, bars: bool, paint: Paint) -> String {
    let mut parts = segments(view, bars);
    let mut head = head(view);
    let columns = |head: &str, parts: &[Segment]| {
        head.chars().count()
            + parts
                .iter()
                .map(|p| 1 + p.text.chars().count())
                .sum::<usize>()
    };
    if let Some(width) = width {
        while columns(&head, &parts) > width {
            let Some((at, _)) = parts
                .iter()
                .enumerate()
                .filter(|(_, p)| p.drop_rank > 0)
                .max_by_key(|(i, p)| (p.drop_rank, *i))
            else {
                break;
            };
            parts.remove(at);
        }
        let over = columns(&head, &parts).saturating_sub(width);
        if over > 0 {
            head = shorten(&head, head.chars().count().saturating_sub(over));
        }
    }
    let mut line = head;
    for part in &parts {
        line.push(' ');
        line.push_str(&paint.tone(part.tone, &part.text));
    }
    line
}

/// `text` cut to `max` characters, the cut marked with `…` before the closing `:`.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(2);
    let mut out: String = text.chars().take(keep).collect();
    out.push_str("…:");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, kind: &'static str, phase: Phase) -> StepView {
        StepView {
            name: name.into(),
            kind,
            total: None,
            counts: Counts::default(),
            backoffs: 0,
            elapsed: Duration::ZERO,
            pace: None,
            phase,
        }
    }

    fn retry_running() -> StepView {
        StepView {
            total: Some(20),
            counts: Counts {
                done: 12,
                retried: 9,
                failed: 1,
                unknown: 1,
                not_sent: 0,
                skipped: 1,
            },
            backoffs: 2,
            elapsed: Duration::from_millis(3870),
            ..view("retry-failed", "retry", Phase::Running)
        }
    }

    fn plain(view: &StepView, width: usize) -> String {
        render(view, Some(width), true, Paint::none())
    }

    /// Regression (issue 11, point 7): `failed (fetch)   14 14 items` read as an error.
    #[test]
    fn a_finished_fetch_named_failed_shows_its_kind_then_its_name() {
        let done = StepView {
            counts: Counts {
                done: 14,
                ..Counts::default()
            },
            ..view("failed", "fetch", Phase::Finished("14 items".into()))
        };
        assert_eq!(plain(&done, 80), "fetch failed: 14 items");
        let running = StepView {
            phase: Phase::Running,
            ..done.clone()
        };
        assert_eq!(
            plain(&running, 80),
            "fetch failed: 14 items",
            "no retry counters"
        );
        let filter = view("selected", "filter", Phase::Finished("kept 0 of 14".into()));
        assert_eq!(plain(&filter, 80), "filter selected: kept 0 of 14");
        let unnamed = view("retry", "retry", Phase::Started);
        assert_eq!(plain(&unnamed, 80), "retry: started");
    }

    #[test]
    fn a_running_retry_at_120_80_and_40_columns_drops_whole_parts() {
        let v = retry_running();
        assert_eq!(
            plain(&v, 120),
            "retry retry-failed: 12/20 [============>       ] 3.1/s eta 3s retried 9 failed 1 unknown 1 skipped 1 backed off 2"
        );
        let at_80 = plain(&v, 80);
        assert!(at_80.chars().count() <= 80, "{at_80}");
        assert_eq!(
            at_80,
            "retry retry-failed: 12/20 eta 3s retried 9 failed 1 unknown 1 skipped 1"
        );
        assert_eq!(plain(&v, 40), "retry retry-failed: 12/20 retried 9");
        assert_eq!(plain(&v, 30), "retry retry-failed: 12/20");
        for width in 10..130 {
            let line = plain(&v, width);
            assert!(
                line.chars().count() <= width.max(8),
                "{width}: {line:?} is wider"
            );
            for number in ["12/20", "3.1/s"] {
                let cut = number.chars().take(number.len() - 1).collect::<String>();
                assert!(
                    !line.ends_with(&cut) || line.ends_with(number),
                    "{width}: a number is cut: {line}"
                );
            }
        }
    }

    #[test]
    fn counters_keep_their_order_while_running_and_finished() {
        let running = retry_running();
        let finished = StepView {
            phase: Phase::Finished("retried 9, skipped 1, failed 1".into()),
            ..retry_running()
        };
        assert_eq!(
            plain(&finished, 120),
            "retry retry-failed: 12/20 retried 9 failed 1 unknown 1 skipped 1 backed off 2"
        );
        let tail = |line: String| line.split_once(" retried").map(|(_, t)| t.to_string());
        assert_eq!(tail(plain(&running, 120)), tail(plain(&finished, 120)));
    }

    #[test]
    fn no_rate_or_eta_on_the_first_frame() {
        let first = StepView {
            elapsed: Duration::from_millis(30),
            counts: Counts {
                done: 1,
                retried: 1,
                ..Counts::default()
            },
            backoffs: 0,
            ..retry_running()
        };
        assert_eq!(
            render(&first, None, false, Paint::none()),
            "retry retry-failed: 1/20 retried 1 failed 0"
        );
    }

    #[test]
    fn an_interrupted_retry_says_so_after_its_counters_and_not_sent_is_not_failed() {
        let stopped = StepView {
            counts: Counts {
                done: 20,
                retried: 6,
                unknown: 1,
                not_sent: 13,
                ..Counts::default()
            },
            backoffs: 0,
            phase: Phase::Finished("aborted: interrupted".into()),
            ..retry_running()
        };
        assert_eq!(
            plain(&stopped, 120),
            "retry retry-failed: 20/20 retried 6 failed 0 unknown 1 not sent 13 aborted: interrupted"
        );
    }

    #[test]
    fn verify_shows_what_it_found() {
        let v = StepView {
            total: Some(3),
            counts: Counts {
                done: 3,
                retried: 1,
                failed: 1,
                ..Counts::default()
            },
            ..view("verify", "verify", Phase::Finished(String::new()))
        };
        assert_eq!(
            plain(&v, 80),
            "verify: 3/3 recovered 1 still failing 1 pending 1"
        );
    }

    /// Issue 10: the line shows the adaptive pace once one has been reported, and only then.
    #[test]
    fn the_pace_is_shown_after_the_counts_once_reported() {
        let mut v = retry_running();
        v.backoffs = 0;
        assert!(!plain(&v, 120).contains("pace"));
        v.pace = Some("12/s".into());
        assert!(
            plain(&v, 120).ends_with(" skipped 1 pace 12/s"),
            "{}",
            plain(&v, 120)
        );
        assert_eq!(
            super::super::pace_line("12/s", "slowed down: HTTP 429 (was 24/s)"),
            "  pace 12/s: slowed down: HTTP 429 (was 24/s)"
        );
    }

    #[test]
    fn rates_are_rounded_and_etas_read_as_time() {
        assert_eq!(rate(3.1046), "3.1/s");
        assert_eq!(rate(380.9801), "381/s");
        assert_eq!(rate(0.05), "3.0/min");
        assert_eq!(rate(f64::NAN), "0/s");
        assert_eq!(eta(Duration::from_secs(45)), "45s");
        assert_eq!(eta(Duration::from_secs(125)), "2m05s");
        assert_eq!(eta(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn a_long_name_is_shortened_only_when_nothing_else_can_go() {
        let v = StepView {
            name: "a-very-long-step-name-that-goes-on".into(),
            ..retry_running()
        };
        let line = plain(&v, 30);
        assert_eq!(line, "retry a-very-long-step…: 12/20");
        assert_eq!(line.chars().count(), 30);
    }

    #[test]
    fn colour_paints_counters_not_the_layout() {
        let v = retry_running();
        let painted = render(&v, Some(80), true, Paint::ansi());
        assert!(
            painted.contains("\u{1b}[32mretried 9\u{1b}[0m"),
            "{painted:?}"
        );
        assert!(
            painted.contains("\u{1b}[31mfailed 1\u{1b}[0m"),
            "{painted:?}"
        );
        assert!(
            painted.contains("\u{1b}[33munknown 1\u{1b}[0m"),
            "{painted:?}"
        );
        let stripped = painted
            .replace("\u{1b}[32m", "")
            .replace("\u{1b}[31m", "")
            .replace("\u{1b}[33m", "")
            .replace("\u{1b}[0m", "");
        assert_eq!(stripped, plain(&v, 80), "the same layout, painted");
    }
}
