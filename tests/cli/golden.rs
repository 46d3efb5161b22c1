//! Golden diagnostics: what a person sees when a playbook or a command line is wrong, compared
//! whole. A `contains` check lets a garbled message, a wrong caret or a doubled line pass; these do
//! not.
//!
//! Each case is a directory under `tests/cli/golden/`:
//! - `args`: the command line, split at whitespace (`play playbook.yaml --var days=many`);
//! - `stderr`: the whole expected stderr; `code`: the expected exit code;
//! - `stdout`, if present: the whole expected stdout;
//! - every other file is copied into the run's working directory (`playbook.yaml`, …).
//!
//! Every case runs against a journaling fake API (`API_URL`, with `TOKEN` set) and must send it
//! nothing: these are the mistakes found before the network (the run-time aborts of
//! `run_time_aborts.rs` share the directory, with an API that answers). Before comparing, the run's temporary directory becomes `[TMP]` and
//! the fake API's address `[API_URL]`. On a mismatch the test prints a line diff;
//! `RUNBOOK_BLESS=1 cargo test --test cli golden::` rewrites `stderr`, `stdout` (when present) and
//! `code` from what the binary printed, for a person to review in `git diff`.

use std::path::{Path, PathBuf};

use crate::{FakeApi, Runbook, repo_path};

/// Files of a case that describe it rather than being copied into the run.
const EXPECTATIONS: &[&str] = &["args", "code", "stderr", "stdout"];

/// Run the case in `tests/cli/golden/{name}` against an API that answers nothing, check that
/// nothing was sent, and compare what it printed with what it expects.
fn golden(name: &str) {
    let api = FakeApi::start(axum::Router::new());
    compare_case(name, &api);
    assert!(
        api.requests().is_empty(),
        "{name}: nothing may be sent, yet the API heard {:?}",
        api.requests()
    );
}

/// Run the case in `tests/cli/golden/{name}` against `api` and compare what it printed with what
/// it expects (the run-time cases of [`crate::run_time_aborts`] answer through their own API).
pub(crate) fn compare_case(name: &str, api: &FakeApi) {
    let case = repo_path("tests/cli/golden").join(name);
    let args = read(&case.join("args"));
    let mut runbook = Runbook::new(args.split_whitespace())
        .api(api)
        .env("TOKEN", "t0ken-value");
    for input in inputs(&case) {
        let contents = read(&case.join(&input));
        runbook = runbook.file(&input, &contents);
    }
    let mut scrub = Scrubber::new(runbook.dir(), &api.url());
    let ran = runbook.run();
    // The run's id, which the line a run ends with names, changes from run to run.
    let report = std::fs::read_to_string(ran.path("report.json")).unwrap_or_default();
    if let Some(id) = serde_json::from_str::<serde_json::Value>(&report)
        .ok()
        .and_then(|r| r["run_id"].as_str().map(String::from))
    {
        scrub.holes.push((id, "[RUN_ID]"));
    }
    let mut mismatches = Vec::new();
    let mut compare = |file: &str, actual: String| {
        let path = case.join(file);
        if bless() {
            std::fs::write(&path, &actual).expect("bless: write the expected file");
            return;
        }
        let expected = read(&path);
        if expected != actual {
            mismatches.push(format!("--- {name}/{file}\n{}", diff(&expected, &actual)));
        }
    };
    compare("code", format!("{}\n", ran.code));
    compare("stderr", scrub.apply(&ran.stderr));
    if case.join("stdout").exists() {
        compare("stdout", scrub.apply(&ran.stdout));
    }
    assert!(
        mismatches.is_empty(),
        "golden case {name} differs (`-` expected, `+` printed; RUNBOOK_BLESS=1 rewrites the expected files):\n{}",
        mismatches.join("\n")
    );
}

fn bless() -> bool {
    std::env::var_os("RUNBOOK_BLESS").is_some_and(|v| v == "1")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The files of a case that go into the run's working directory, by name.
fn inputs(case: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(case)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", case.display()))
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !EXPECTATIONS.contains(&name.as_str()))
        .collect();
    names.sort();
    names
}

/// Replaces what changes from run to run (the temporary directory, the fake API's port) with a
/// stable placeholder.
struct Scrubber {
    holes: Vec<(String, &'static str)>,
}

impl Scrubber {
    fn new(dir: &Path, api_url: &str) -> Scrubber {
        let mut holes = vec![(api_url.to_string(), "[API_URL]")];
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        for path in [canonical, dir.to_path_buf()] {
            holes.push((path.display().to_string(), "[TMP]"));
        }
        Scrubber { holes }
    }

    /// The holes filled, and every RFC 3339 UTC timestamp (a log line's) made `[TS]`.
    fn apply(&self, text: &str) -> String {
        let text = self
            .holes
            .iter()
            .fold(text.to_string(), |t, (from, to)| t.replace(from, to));
        let timestamp =
            regex::Regex::new(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z").expect("a valid pattern");
        timestamp.replace_all(&text, "[TS]").into_owned()
    }
}

/// A line diff of two short texts: the longest common subsequence of lines kept (` `), the rest
/// marked `-` (expected only) and `+` (printed only). Written here rather than taken from a crate:
/// the texts are a few lines long and a dev-dependency for it would be more to keep than this.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    // common[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let mut line = |mark: char, text: &str| {
        out.push(mark);
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push_str("\n\\ no newline at the end\n");
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            line(' ', a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            line('-', a[i]);
            i += 1;
        } else {
            line('+', b[j]);
            j += 1;
        }
    }
    out
}

/// The case directories, as listed by the tests below: a directory no test names is a mistake.
fn case_dirs() -> Vec<PathBuf> {
    let root = repo_path("tests/cli/golden");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// One `#[test]` per case, named as its directory, so that a case can be run (and blessed) alone.
macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                golden(stringify!($name));
            }
        )*

        #[test]
        fn every_case_directory_is_run() {
            let listed = [$(stringify!($name)),*];
            let unlisted: Vec<String> = case_dirs()
                .iter()
                .filter_map(|d| d.file_name()?.to_str().map(str::to_string))
                .filter(|d| !listed.contains(&d.as_str()) && !crate::run_time_aborts::CASES.contains(&d.as_str()))
                .collect();
            assert!(unlisted.is_empty(), "add these to `cases!` in golden.rs: {unlisted:?}");
        }
    };
}

cases! {
    a_bad_duration_in_vars_is_reported_where_it_is_defined,
    a_key_written_twice_names_both_lines,
    a_report_of_unknown_format_is_refused,
    an_explosive_jsonpath_is_found_by_validate,
    an_explosive_jsonpath_is_refused_before_anything_is_sent,
    an_input_naming_no_earlier_step_suggests_one,
    an_undefined_variable_is_reported_once,
    bad_auto_rate,
    bad_duration,
    bad_rate,
    history_without_a_ledger,
    invalid_jsonpath,
    invalid_template_syntax_is_pinpointed,
    malformed_yaml,
    max_items_zero_is_a_located_error,
    missing_secret_names_the_variable,
    regression_a_missing_secret_in_a_retry_request_stops_the_run_before_any_read,
    sandbox_fault_rate_out_of_range,
    show_without_a_ledger,
    unknown_filters_are_found_by_validate_with_a_suggestion,
    unknown_functions_and_tests_are_found_by_validate_with_a_suggestion,
    unknown_key_suggests_the_right_one,
    unknown_provider_suggests_the_right_one,
    unknown_step_kind_is_pinpointed,
    unknown_var_on_the_command_line,
    validate_checks_every_file_and_fails_if_any_is_bad,
    validate_finds_an_undefined_variable_without_network,
    validate_passes_the_same_playbook_spelled_right,
    var_not_k_equals_v,
    var_of_the_wrong_type,
    var_without_a_name,
    verify_without_a_request_names_the_step,
}

#[test]
fn the_diff_marks_what_was_expected_and_what_was_printed() {
    let shown = diff("error: a\n --> x:1:1\n", "error: b\n --> x:1:1\n");
    assert_eq!(shown, "-error: a\n+error: b\n  --> x:1:1\n");
}

#[test]
fn the_scrubber_replaces_the_temporary_directory_and_the_api() {
    let scrub = Scrubber::new(Path::new("/tmp/.tmpAbC"), "http://127.0.0.1:4242");
    assert_eq!(
        scrub.apply("cannot read /tmp/.tmpAbC/x.yaml from http://127.0.0.1:4242/tasks"),
        "cannot read [TMP]/x.yaml from [API_URL]/tasks"
    );
}
