#!/usr/bin/env python3
"""runbook's benchmark suite (issue 9): every case of the issue's table, against the standalone
`runbook sandbox` on 127.0.0.1, each runbook figure beside a reference measured in the same run.

Run it through `bench/run` (it builds runbook in release and finds or installs `hey` first):

    bench/run                      # every case, 3 runs each, medians; writes BENCHMARKS.md
    bench/run --quick              # one run each, smaller task counts: a smoke run
    bench/run --cases retry,rate   # only the cases whose name starts with one of these
    bench/run --list               # the cases and what each measures
    bench/run --dry                # print the plan (cases, sizes, runs) and stop

Why Python with the standard library only: it is on every Debian machine, so the suite needs
nothing built or fetched but runbook and the load generator; it times child processes and reads
their peak RSS through GNU time (harness.py's `timed` says why not `os.wait4`); and the
sequential baseline client of the "versus" case is `http.client` with keep-alive, the same one
a seed script would use. A Rust harness would add a second release build to every run.

Three files: this one (the command line and BENCHMARKS.md), harness.py (the processes it drives
and the `Bench` every case gets), cases.py (the cases). Adding a case is one function taking a
`Bench` and returning `Row`s, and one `Case(...)` entry in `CASES` (cases.py); a case that needs
a sandbox starts its own with `bench.sandbox(...)` (fresh state for every run, since a retry
changes the tasks it touches).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import pacing
from cases import CASES, busiest_second, union_ms
from harness import ROOT, Bench, Row


# --- the report ---------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    filesystem = subprocess.run(
        ["stat", "-f", "-c", "%T", tempfile.gettempdir()], capture_output=True, text=True
    ).stdout.strip()
    return {
        "tmp": f"{tempfile.gettempdir()} ({filesystem or 'unknown'})",
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "kernel": f"{platform.system()} {platform.release()}",
    }


def commit() -> str:
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return head + (" (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")


def table(rows: list) -> str:
    mark = {True: "pass", False: "**miss**", None: "—"}
    lines = [
        "| case | measure | runbook | reference (same run) | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        result = mark[row.ok] + (f" ({row.note})" if row.note else "")
        lines.append(
            f"| {row.case} | {row.metric} | {row.runbook} | {row.reference} | {row.target} | {result} |"
        )
    return "\n".join(lines)


SEPARATE = "## Cases from a separate run ("


def separate_run(path: Path) -> list:
    """The lines of an earlier report (`--also`) to copy: its run (date, commit, command …), its
    table and misses, how its cases measure, and its commands. A report that itself carries
    separate runs (a BENCHMARKS.md with the pacing group) hands those on as they are instead, so
    `--also BENCHMARKS.md` keeps them without the file they first came from. Read before any case
    runs, so a wrong path costs nothing."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ValueError(f"--also {path}: cannot be read ({e.strerror})") from e
    first = next((i for i, line in enumerate(lines) if line.startswith(SEPARATE)), None)
    if first is not None:
        end = next(
            (i for i, line in enumerate(lines[first:], first)
             if line.startswith("## ") and not line.startswith(SEPARATE)),
            len(lines),
        )
        kept = lines[first:end]
        while kept and not kept[-1].strip():
            kept.pop()
        return kept

    def section(start: str, end: str) -> list:
        try:
            first = next(i for i, line in enumerate(lines) if line.startswith(start))
        except StopIteration:
            raise ValueError(f"--also {path}: not a report bench/run wrote (no `{start.strip()}`)") from None
        last = next((i for i, line in enumerate(lines[first + 1 :], first + 1) if line.startswith(end)), len(lines))
        return lines[first:last]

    run = section("- date:", "## How each case measures")
    how = section("## How each case measures", "## ")[1:]
    commands = section("## Commands", "## ")[1:]
    title = f"{SEPARATE}{path.name})"
    return [title, "", *run, "How its cases measure:", *how, "Its commands:", *commands]


def write_report(
    path: Path,
    bench: Bench,
    rows: list,
    argv: list,
    started: datetime.datetime,
    minutes: float,
    earlier: Sequence[list] = (),
):
    info = machine()
    misses = [row for row in rows if row.ok is False]
    text = [
        "# Benchmarks",
        "",
        "Written by `bench/run` (see the README's \"Benchmarks\" section); do not edit by hand: "
        "profiles and notes that must survive a new run go in `bench/notes.md`, copied in below.",
        "",
    ]
    if bench.preface:
        text += [f"> {bench.preface}", ""]
    text += [
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}, {minutes:.1f} minutes",
        f"- commit: {commit()}",
        f"- machine: {info['CPU']}, {info['cores']} cores, {info['RAM']} RAM, {info['kernel']}",
        f"- command: `{shlex.join(['bench/run', *argv])}`",
        f"- runs per case: {bench.runs} (figures are medians){'; QUICK mode: smaller task counts, not the targets sizes' if bench.quick else ''}",
        f"- binary: {bench.runbook}; server: its `runbook sandbox` on 127.0.0.1, a fresh one for every run; load generator: `hey`",
        f"- each run's working directory (its ledger) is under {info['tmp']}",
        "",
        table(rows),
        "",
    ]
    if misses:
        text += ["## Missed targets", ""]
        text += [f"- {row.case}: {row.metric} — {row.runbook} against {row.target}" for row in misses]
        text += [
            "",
            "Each miss's profile, what was tried and what bounds it: \"Notes kept by hand\" below "
            "(bench/notes.md), under the case's name.",
            "",
        ]
    for lines in earlier:
        text += [*lines, ""]
    text += ["## How each case measures", ""]
    explained = {}
    for case in CASES:
        if case.name in bench.commands and case.how:
            explained.setdefault(case.how, []).append(case.name)
    text += [f"- {', '.join(names)}: {how}" for how, names in explained.items()]
    text += [""]
    kept = ROOT / "bench" / "notes.md"
    if kept.is_file():
        text += [kept.read_text().rstrip(), ""]
    text += ["## Commands", "", "What each case ran (PORT is the sandbox's, chosen at start):", ""]
    for case, commands in bench.commands.items():
        text.append(f"- {case}:")
        text += [f"  - `{command}`" for command in commands]
    text.append("")
    path.write_text("\n".join(text))


def self_test() -> int:
    """Checks the harness's own arithmetic and parsing (`bench/run --self-test`)."""
    assert union_ms([]) == 0
    assert union_ms([(0, 1000), (500, 1500), (2000, 2100)]) == 1600
    assert union_ms([(100, 200), (0, 1000)]) == 1000
    assert busiest_second([0, 10, 999, 1000, 1999]) == 3
    assert busiest_second(list(range(0, 20_000, 20))) == 50
    assert busiest_second([]) == 0
    assert table([Row("c", "m", "1", "2", "t", None, "n")]).endswith("| c | m | 1 | 2 | t | — (n) |")
    pacing.self_test()
    with tempfile.TemporaryDirectory() as directory:
        report = Path(directory, "pacing.md")
        report.write_text("# Benchmarks\n\n- date: d\n\n| t |\n\n## How each case measures\n\n- x\n\n## Commands\n\n- c:\n  - `run`\n")
        copied = separate_run(report)
        assert copied[0] == "## Cases from a separate run (pacing.md)", copied
        assert "| t |" in copied and "- x" in copied and "  - `run`" in copied, copied
        # A report carrying that run hands it on as it is, without its own cases.
        report.write_text("\n".join(["# Benchmarks", "", "- date: now", "| own |", *copied, "",
                                      "## How each case measures", "", "- own", ""]))
        assert separate_run(report) == copied, separate_run(report)
        report.write_text("# something else\n")
        try:
            separate_run(report)
            raise AssertionError("a file that is no report is refused")
        except ValueError as e:
            assert "not a report" in str(e)
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "case names are unique"
    print("bench: self-test ok")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per case, smaller task counts")
    parser.add_argument("--runs", type=int, help="runs per case (default 3; 1 with --quick)")
    parser.add_argument("--cases", help="comma-separated name prefixes of the cases to run")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    parser.add_argument("--dry", action="store_true", help="print the plan and stop")
    parser.add_argument("--self-test", action="store_true", help="check the harness's arithmetic and stop")
    parser.add_argument("--runbook", default=os.environ.get("RUNBOOK"), help="the runbook binary")
    parser.add_argument("--hey", default=os.environ.get("HEY", "hey"), help="the hey binary")
    parser.add_argument(
        "--ledger-off",
        default=os.environ.get("BENCH_LEDGER_OFF", "--ledger :memory:"),
        help="the play arguments that turn the ledger off (default: an in-memory ledger, `--ledger :memory:`)",
    )
    parser.add_argument("--preface", default="", help="a line quoted atop BENCHMARKS.md")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="where to write the report")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        help="a report bench/run wrote before (e.g. the opt-in pacing group, --out FILE): its run "
        "and table are copied into this one, under their own date, commit and command; a report "
        "that carries such runs (BENCHMARKS.md) hands those on instead",
    )
    argv = sys.argv[1:]
    args = parser.parse_args(argv)

    if args.self_test:
        return self_test()
    chosen = [case for case in CASES if not case.opt_in]
    if args.cases:
        prefixes = [p.strip() for p in args.cases.split(",") if p.strip()]
        chosen = [c for c in CASES if any(c.name.startswith(p) for p in prefixes)]
        if not chosen:
            names = ", ".join(c.name for c in CASES)
            print(f"bench: no case starts with {args.cases!r}; the cases are {names}", file=sys.stderr)
            return 2
    if args.list:
        print("\n".join(f"{case.name:<20} {case.group:<11} {case.what}" for case in CASES))
        return 0
    runs = args.runs or (1 if args.quick else 3)
    if args.dry:
        print(f"bench: {len(chosen)} cases, {runs} run(s) each{', quick sizes' if args.quick else ''}:")
        for case in chosen:
            print(f"  {case.name}")
        return 0

    try:
        earlier = [separate_run(Path(path)) for path in args.also]
    except ValueError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2

    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    runbook = Path(args.runbook) if args.runbook else target_dir / "release" / "runbook"
    if not runbook.is_file():
        print(f"bench: no runbook binary at {runbook}; build it with cargo build --release", file=sys.stderr)
        return 2
    hey = shutil.which(args.hey)
    if not hey:
        print(f"bench: no `{args.hey}` on PATH; install it (apt-get install -y hey)", file=sys.stderr)
        return 2

    bench = Bench(
        runbook=runbook,
        hey=hey,
        runs=runs,
        quick=args.quick,
        ledger_off=args.ledger_off,
        preface=args.preface,
    )
    started = datetime.datetime.now(datetime.timezone.utc)
    clock = time.perf_counter()
    rows = []
    for case in chosen:
        bench.current = case.name
        print(f"bench: {case.name} …", file=sys.stderr, flush=True)
        case_clock = time.perf_counter()
        rows += case.run(bench)
        print(f"bench: {case.name} done in {time.perf_counter() - case_clock:.0f} s", file=sys.stderr, flush=True)
    minutes = (time.perf_counter() - clock) / 60
    print(table(rows))
    write_report(Path(args.out), bench, rows, argv, started, minutes, earlier)
    print(f"\nbench: wrote {args.out} ({minutes:.1f} minutes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
