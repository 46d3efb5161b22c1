//! `play` and `retry` share one set of run flags (src/cli.rs `RunFlags`): each `--help` lists every
//! one of them, with the same words, so neither can drift from the other.

use crate::Runbook;

/// The flags `play` and `retry` must both take.
const SHARED: [&str; 9] = [
    "--dry-run",
    "--output",
    "--no-step-summary",
    "--concurrency",
    "--quiet",
    "--verbose",
    "--sandbox",
    "--ledger",
    "--yes",
];

/// The option lines of `runbook SUBCOMMAND --help`, whitespace collapsed (column widths differ).
fn option_lines(subcommand: &str) -> Vec<String> {
    let help = Runbook::new([subcommand, "--help"]).run();
    help.expect_code(0);
    help.stdout
        .split("Options:\n")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// The line that documents `flag`, if any.
fn line_of<'a>(lines: &'a [String], flag: &str) -> Option<&'a String> {
    lines
        .iter()
        .find(|l| l.split([' ', ',']).any(|word| word == flag))
}

#[test]
fn play_and_retry_help_list_the_same_run_flags_in_the_same_words() {
    let play = option_lines("play");
    let retry = option_lines("retry");
    for flag in SHARED {
        let in_play = line_of(&play, flag);
        let in_retry = line_of(&retry, flag);
        assert!(in_play.is_some(), "play --help lacks {flag}: {play:#?}");
        assert_eq!(in_play, in_retry, "{flag} differs between play and retry");
    }
    // Only play resumes a run or caps it; the one-off retry plays its ids from the start.
    for flag in ["--resume", "--retry-unknown", "--limit"] {
        assert!(line_of(&play, flag).is_some(), "play --help lacks {flag}");
        assert!(line_of(&retry, flag).is_none(), "retry --help has {flag}");
    }
}
