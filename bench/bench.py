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
nothing built or fetched but runbook and the load generator; it times child processes with
`os.wait4`, which gives the peak RSS (`ru_maxrss`) of exactly the runbook process; and the
sequential baseline client of the "versus" case is `http.client` with keep-alive, the same one
a seed script would use. A Rust harness would add a second release build to every run.

Adding a case is one function taking a `Bench` and returning `Row`s, and one `Case(...)` entry
in `CASES`; a case that needs a sandbox starts its own with `bench.sandbox(...)` (fresh state for
every run, since a retry changes the tasks it touches).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "bench" / "playbooks"
TOKEN = "sandbox-token"
AUTH = f"Authorization: Bearer {TOKEN}"


# --- what a case reports ------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table: a runbook figure beside its reference and its target."""

    case: str
    metric: str
    runbook: str
    reference: str
    target: str
    ok: Optional[bool]  # None: not judged (pending, or a figure without a target)
    note: str = ""


@dataclass
class Case:
    name: str
    group: str
    run: Callable[["Bench"], list]
    what: str


# --- processes ----------------------------------------------------------------------------------


class Sandbox:
    """`runbook sandbox --port 0 ARGS…`, ready once it has printed its address; stopped by SIGINT."""

    def __init__(self, bench: "Bench", args: list):
        self.command = [str(bench.runbook), "sandbox", "--port", "0", *args]
        bench.note_command(shlex.join(["runbook", *self.command[1:]]))
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        first = self.process.stdout.readline().strip() if self.process.stdout else ""
        prefix = "runbook sandbox listening on "
        if not first.startswith(prefix):
            self.stop()
            raise SystemExit(f"bench: the sandbox did not start: {first!r} ({' '.join(args)})")
        self.origin = first[len(prefix):]
        self.host, port = self.origin.removeprefix("http://").split(":")
        self.port = int(port)
        self.api = f"{self.origin}/http"

    def get(self, path: str):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        connection.request("GET", path)
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
        return json.loads(body)

    def retryable_ids(self, count: int) -> list:
        tasks = self.get("/_sandbox/tasks/http")
        ids = [t["id"] for t in tasks if t["status"] in ("failed", "timed_out")]
        if len(ids) < count:
            raise SystemExit(f"bench: the sandbox holds {len(ids)} retryable tasks, not {count}")
        return ids[:count]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


@dataclass
class Timed:
    seconds: float
    max_rss_mb: float
    code: int
    stderr: str


def timed(command: list, cwd: Path, env: Optional[dict] = None) -> Timed:
    """Runs `command` to its end: wall time, and peak RSS of that process from `os.wait4`."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    # ru_maxrss is in kilobytes on Linux.
    return Timed(seconds, usage.ru_maxrss / 1024, process.returncode, text)


# --- the bench ----------------------------------------------------------------------------------


@dataclass
class Bench:
    runbook: Path
    hey: str
    runs: int
    quick: bool
    commands: dict = field(default_factory=dict)
    current: str = ""
    cache: dict = field(default_factory=dict)

    def note_command(self, command: str):
        listed = self.commands.setdefault(self.current, [])
        if command not in listed:
            listed.append(command)

    def sandbox(self, *args: str) -> Sandbox:
        return Sandbox(self, list(args))

    def play(self, sandbox: Sandbox, playbook: str, *args: str, ids: Optional[list] = None) -> Timed:
        """`runbook play bench/playbooks/PLAYBOOK` in a fresh directory (so a fresh ledger)."""
        with tempfile.TemporaryDirectory(prefix="runbook-bench-") as directory:
            if ids is not None:
                Path(directory, "ids.json").write_text(json.dumps(ids))
            env = {
                "PATH": os.environ.get("PATH", ""),
                "TASKS_API_URL": sandbox.api,
                "TASKS_API_TOKEN": TOKEN,
            }
            shown = ["runbook", "play", f"bench/playbooks/{playbook}", "--quiet", "--yes", *args]
            self.note_command(
                f"TASKS_API_URL={sandbox.origin.replace(str(sandbox.port), 'PORT')}/http "
                f"TASKS_API_TOKEN={TOKEN} " + shlex.join(shown)
            )
            command = [str(self.runbook), *shown[1:]]
            command[2] = str(PLAYBOOKS / playbook)
            result = timed(command, Path(directory), env)
        if result.code != 0:
            raise SystemExit(
                f"bench: runbook exited {result.code} on {playbook}:\n{result.stderr[-2000:]}"
            )
        return result

    def hey_rps(self, url: str, requests: int, concurrency: int, method: str = "GET") -> float:
        """Requests per second `hey` reaches on `url`."""
        args = ["-n", str(requests), "-c", str(concurrency), "-m", method, "-H", AUTH, url]
        shown = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", shlex.join(["hey", *args]))
        self.note_command(shown)
        output = subprocess.run([self.hey, *args], capture_output=True, text=True, check=True)
        found = re.search(r"Requests/sec:\s+([0-9.]+)", output.stdout)
        if not found:
            raise SystemExit(f"bench: no Requests/sec in hey's output:\n{output.stdout}")
        return float(found.group(1))

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def median(values) -> float:
    return statistics.median(values)


def judge(value: float, target: float, at_least: bool) -> bool:
    return value >= target if at_least else value <= target


# --- cases --------------------------------------------------------------------------------------


def retry_throughput(tasks_full: int, concurrency: int):
    def run(bench: Bench) -> list:
        tasks = bench.size(tasks_full, tasks_full // 10)
        ours, theirs = [], []
        for _ in range(bench.runs):
            with bench.sandbox("--tasks", f"http={2 * tasks}") as sandbox:
                ids = sandbox.retryable_ids(tasks)
                result = bench.play(
                    sandbox, "retry.yaml", "--concurrency", str(concurrency), ids=ids
                )
                ours.append(tasks / result.seconds)
                # The same endpoint: one task's retry again and again (200 once, then 409s).
                url = f"{sandbox.api}/tasks/{ids[0]}/retry"
                theirs.append(bench.hey_rps(url, tasks, concurrency, "POST"))
        ours_rps, theirs_rps = median(ours), median(theirs)
        bench.cache[f"retry-{tasks}-c{concurrency}"] = tasks / ours_rps
        share = ours_rps / theirs_rps
        return [
            Row(
                bench.current,
                f"retries/s, {tasks:,} tasks, concurrency {concurrency}",
                f"{ours_rps:,.0f}/s ({share:.0%})",
                f"hey: {theirs_rps:,.0f}/s",
                "≥ 60% of hey",
                judge(share, 0.60, True),
            )
        ]

    return run


def scaling(bench: Bench) -> list:
    big = bench.size(100_000, 10_000)
    small = 1_000
    times = {}
    for tasks in (small, big):
        key = f"retry-{tasks}-c8"
        if key not in bench.cache:
            seconds = []
            for _ in range(bench.runs):
                with bench.sandbox("--tasks", f"http={2 * tasks}") as sandbox:
                    ids = sandbox.retryable_ids(tasks)
                    seconds.append(bench.play(sandbox, "retry.yaml", "--concurrency", "8", ids=ids).seconds)
            bench.cache[key] = median(seconds)
        times[tasks] = bench.cache[key] / tasks
    ratio = times[big] / times[small]
    return [
        Row(
            bench.current,
            f"time per item at {big:,} / at {small:,} (concurrency 8)",
            f"{times[big] * 1e6:,.0f} µs / {times[small] * 1e6:,.0f} µs = {ratio:.2f}",
            "—",
            "≤ 1.20",
            judge(ratio, 1.20, False),
        )
    ]


def ledger_cost(bench: Bench) -> list:
    return [
        Row(
            bench.current,
            "retries/s ledger on / ledger off",
            "pending",
            "—",
            "≥ 0.80",
            None,
            "needs part 9A's bench-only switch to turn the ledger off; the case runs once it is in main",
        )
    ]


def big_fetch(bench: Bench) -> list:
    tasks = bench.size(200_000, 20_000)
    pages = tasks // 100
    seconds, rss, reference = [], [], []
    for _ in range(bench.runs):
        with bench.sandbox("--tasks", f"http={tasks}") as sandbox:
            result = bench.play(sandbox, "big-fetch.yaml")
            listed = [
                r for r in sandbox.get("/_sandbox/requests") if r["method"] == "GET" and r["path"] == "/tasks"
            ]
            if len(listed) != pages:
                raise SystemExit(f"bench: big fetch read {len(listed)} pages, not {pages}")
            seconds.append(result.seconds)
            rss.append(result.max_rss_mb)
            # Pages are walked one after the other (each needs the previous cursor): hey -c 1.
            reference.append(bench.hey_rps(f"{sandbox.api}/tasks?limit=100", pages, 1))
    pages_per_s = pages / median(seconds)
    share = pages_per_s / median(reference)
    peak = median(rss)
    return [
        Row(
            bench.current,
            f"peak RSS, {tasks:,} tasks over {pages:,} pages, filter keeps 10%",
            f"{peak:,.0f} MB",
            "—",
            "≤ 100 MB",
            judge(peak, 100, False),
        ),
        Row(
            bench.current,
            "pages/s",
            f"{pages_per_s:,.0f}/s ({share:.0%})",
            f"hey -c 1: {median(reference):,.0f}/s",
            "≥ 60% of hey",
            judge(share, 0.60, True),
        ),
    ]


def arrivals(sandbox: Sandbox) -> list:
    """Arrival times (ms) at the sandbox of the retry requests, in order."""
    return sorted(
        r["at_ms"]
        for r in sandbox.get("/_sandbox/requests")
        if r["method"] == "POST" and r["path"].endswith("/retry")
    )


def busiest_second(times: list) -> int:
    """The most arrivals within any window of 1,000 ms (starting at an arrival)."""
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1000:
            start += 1
        most = max(most, end - start + 1)
    return most


def rate_fidelity(bench: Bench) -> list:
    seconds = bench.size(20, 10)
    tasks = 50 * seconds
    means, busiest = [], []
    for _ in range(bench.runs):
        with bench.sandbox("--tasks", f"http={2 * tasks}") as sandbox:
            bench.play(sandbox, "rate.yaml", ids=sandbox.retryable_ids(tasks))
            times = arrivals(sandbox)
            span = (times[-1] - times[0]) / 1000
            means.append((len(times) - 1) / span)
            busiest.append(busiest_second(times))
    mean, worst = median(means), max(busiest)
    return [
        Row(
            bench.current,
            f"mean rate at the server, `rate: 50/s`, {tasks:,} retries",
            f"{mean:.2f}/s ({mean / 50 - 1:+.1%})",
            "50/s",
            "within 2%",
            abs(mean / 50 - 1) <= 0.02,
        ),
        Row(
            bench.current,
            "most arrivals in any 1-s window (worst run)",
            f"{worst}",
            "50",
            "≤ 50",
            worst <= 50,
        ),
    ]


def union_ms(windows: list) -> int:
    """How many milliseconds the windows cover together."""
    total, reach = 0, None
    for start, end in sorted(windows):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def retry_after(bench: Bench) -> list:
    tasks = bench.size(1_000, 300)
    ratios, problems = [], []
    for _ in range(bench.runs):
        with bench.sandbox("--tasks", f"http={2 * tasks}", "--faults", "0.2") as sandbox:
            ids = sandbox.retryable_ids(tasks)
            bench.play(sandbox, "retry.yaml", "--concurrency", "64", ids=ids)
            requests = [
                r
                for r in sandbox.get("/_sandbox/requests")
                if r["method"] == "POST" and r["path"].endswith("/retry")
            ]
            carried = {}
            for r in requests:
                if not r["fault"]:
                    task = r["path"].split("/")[2]
                    carried.setdefault(task, []).append(r["status"])
            wrong = [i for i in ids if carried.get(i) != [200]]
            if wrong:
                problems.append(f"{len(wrong)} tasks not retried exactly once, e.g. {wrong[0]}: {carried.get(wrong[0])}")
            times = sorted(r["at_ms"] for r in requests)
            span = times[-1] - times[0]
            windows = [(w["from_ms"], w["until_ms"]) for w in sandbox.get("/_sandbox/windows")]
            forced = union_ms(windows)
            ratios.append(span / forced if forced else float("inf"))
    ratio = median(ratios)
    return [
        Row(
            bench.current,
            f"every eligible task retried exactly once ({tasks:,} tasks, concurrency 64, 20% faults)",
            "yes" if not problems else "; ".join(problems),
            "checked at the server",
            "exactly once",
            not problems,
        ),
        Row(
            bench.current,
            "time / time the Retry-After waits force",
            f"{ratio:.2f}",
            "union of the announced waits",
            "≤ 1.10",
            judge(ratio, 1.10, False),
        ),
    ]


def start_up(bench: Bench) -> list:
    runs = bench.size(30, 10)
    command = [str(bench.runbook), "validate", str(ROOT / "playbooks" / "http-example.yaml")]
    bench.note_command("runbook validate playbooks/http-example.yaml")
    for _ in range(3):  # warm the page cache
        subprocess.run(command, capture_output=True, check=True)
    seconds = []
    for _ in range(runs):
        seconds.append(timed(command, ROOT).seconds)
    ms = median(seconds) * 1000
    return [
        Row(
            bench.current,
            f"`runbook validate` of a shipped playbook, median of {runs}",
            f"{ms:.1f} ms",
            "—",
            "≤ 10 ms",
            judge(ms, 10, False),
        )
    ]


def sequential_client(sandbox: Sandbox, ids: list) -> float:
    """The seed script's way: one retry after the other on one keep-alive connection."""
    connection = http.client.HTTPConnection(sandbox.host, sandbox.port, timeout=60)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Length": "0"}
    start = time.perf_counter()
    for task in ids:
        connection.request("POST", f"/http/tasks/{task}/retry", headers=headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"bench: sequential retry of {task} answered {answer.status}")
    seconds = time.perf_counter() - start
    connection.close()
    return seconds


def versus_sequential(bench: Bench) -> list:
    tasks = bench.size(10_000, 2_000)
    ours, theirs = [], []
    bench.note_command("bench/bench.py's sequential_client: http.client, keep-alive, one POST at a time")
    for _ in range(bench.runs):
        with bench.sandbox("--tasks", f"http={2 * tasks}") as sandbox:
            theirs.append(sequential_client(sandbox, sandbox.retryable_ids(tasks)))
        with bench.sandbox("--tasks", f"http={2 * tasks}") as sandbox:
            ids = sandbox.retryable_ids(tasks)
            ours.append(bench.play(sandbox, "retry.yaml", "--concurrency", "64", ids=ids).seconds)
    factor = median(theirs) / median(ours)
    return [
        Row(
            bench.current,
            f"{tasks:,} retries: sequential client's time / runbook's (concurrency 64)",
            f"{median(ours):.2f} s ({factor:.1f}×)",
            f"sequential: {median(theirs):.2f} s",
            "≥ 20×",
            judge(factor, 20, True),
        )
    ]


CASES = [
    Case("retry-20k-c8", "throughput", retry_throughput(20_000, 8), "retries/s vs hey on the retry endpoint"),
    Case("retry-20k-c64", "throughput", retry_throughput(20_000, 64), "same, concurrency 64"),
    Case("retry-100k-c8", "throughput", retry_throughput(100_000, 8), "same, 100,000 tasks"),
    Case("retry-100k-c64", "throughput", retry_throughput(100_000, 64), "same, concurrency 64"),
    Case("scaling", "throughput", scaling, "time per item at 100,000 vs at 1,000"),
    Case("ledger", "throughput", ledger_cost, "ledger on vs off (pending part 9A)"),
    Case("big-fetch", "memory", big_fetch, "peak RSS and pages/s of a 200,000-task walk"),
    Case("rate", "pacing", rate_fidelity, "`rate: 50/s` for 20 s, measured at the server"),
    Case("retry-after", "pacing", retry_after, "Retry-After at concurrency 64, 20% faults"),
    Case("startup", "latency", start_up, "`runbook validate` median"),
    Case("versus-sequential", "throughput", versus_sequential, "vs a one-at-a-time client"),
]


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


def write_report(path: Path, bench: Bench, rows: list, argv: list, started: datetime.datetime, minutes: float):
    info = machine()
    misses = [row for row in rows if row.ok is False]
    text = [
        "# Benchmarks",
        "",
        "Written by `bench/run` (see the README's \"Benchmarks\" section); do not edit by hand.",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}, {minutes:.1f} minutes",
        f"- commit: {commit()}",
        f"- machine: {info['CPU']}, {info['cores']} cores, {info['RAM']} RAM, {info['kernel']}",
        f"- command: `bench/run {' '.join(argv)}`".rstrip() + ("" if argv else ""),
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
        text += [""]
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
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="where to write the report")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)

    if args.self_test:
        return self_test()
    chosen = CASES
    if args.cases:
        prefixes = [p.strip() for p in args.cases.split(",") if p.strip()]
        chosen = [c for c in CASES if any(c.name.startswith(p) for p in prefixes)]
        if not chosen:
            names = ", ".join(c.name for c in CASES)
            print(f"bench: no case starts with {args.cases!r}; the cases are {names}", file=sys.stderr)
            return 2
    if args.list:
        for case in CASES:
            print(f"{case.name:<20} {case.group:<11} {case.what}")
        return 0
    runs = args.runs or (1 if args.quick else 3)
    if args.dry:
        print(f"bench: {len(chosen)} cases, {runs} run(s) each{', quick sizes' if args.quick else ''}:")
        for case in chosen:
            print(f"  {case.name}")
        return 0

    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    runbook = Path(args.runbook) if args.runbook else target_dir / "release" / "runbook"
    if not runbook.is_file():
        print(f"bench: no runbook binary at {runbook}; build it with cargo build --release", file=sys.stderr)
        return 2
    hey = shutil.which(args.hey)
    if not hey:
        print(f"bench: no `{args.hey}` on PATH; install it (apt-get install -y hey)", file=sys.stderr)
        return 2

    bench = Bench(runbook=runbook, hey=hey, runs=runs, quick=args.quick)
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
    write_report(Path(args.out), bench, rows, argv, started, minutes)
    print(f"\nbench: wrote {args.out} ({minutes:.1f} minutes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
