"""The harness of bench/bench.py: what a case reports (`Row`), the processes it drives (the
sandbox, a timed runbook, hey) and the `Bench` every case is given. See bench.py for why Python."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
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
    how: str = ""  # how the figure and its reference are taken, for BENCHMARKS.md's notes
    opt_in: bool = False  # run only when --cases names it (a long group)


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

    def cpu(self) -> float:
        """User + system seconds the sandbox has used so far."""
        return process_cpu(self.process.pid)

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
    cpu: float  # user + system seconds of the command and the children it waited for


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat: str) -> tuple:
    """(name, user s, system s) from the text of a /proc/…/stat file."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return stat[stat.index("(") + 1 : stat.rindex(")")], int(fields[11]) / TICK, int(fields[12]) / TICK


def process_cpu(pid: int) -> float:
    """User + system seconds a running process has used so far (Linux: /proc/PID/stat)."""
    _, user, system = cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    return user + system


GNU_TIME = "/usr/bin/time"


def timed(command: list, cwd: Path, env: Optional[dict] = None) -> Timed:
    """Runs `command` to its end: wall time, and peak RSS of that process.

    The peak comes from GNU time (`/usr/bin/time -f %M`, a small C program that forks and execs
    the command). `os.wait4`'s ru_maxrss of our own child is not the command's: Python starts
    children with vfork, and Linux carries the high-water mark across exec, so the child's figure
    is at least this Python process's own peak (a bench that has held 100,000 tasks' JSON reports
    ~250 MB for a runbook that used 40). Without GNU time we fall back to it and say so."""
    with tempfile.TemporaryDirectory(prefix="runbook-bench-time-") as scratch:
        peak_file = Path(scratch, "peak")
        gnu_time = Path(GNU_TIME).is_file()
        wrapped = [GNU_TIME, "-f", "%M", "-o", str(peak_file), *command] if gnu_time else command
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            process = subprocess.Popen(
                wrapped, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err
            )
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            text = err.read().decode(errors="replace")
        # Both are in kilobytes on Linux.
        peak_kb = usage.ru_maxrss
        if gnu_time:
            lines = peak_file.read_text().split() if peak_file.is_file() else []
            peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else peak_kb
        else:
            text += "\nbench: /usr/bin/time is missing: peak RSS includes the bench's own (apt-get install time)"
    # wait4's CPU times are the child's with those of the children it waited for (GNU time's
    # command): unlike the peak, they are not carried across exec.
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(seconds, peak_kb / 1024, process.returncode, text, cpu)


# --- the bench ----------------------------------------------------------------------------------


@dataclass
class Bench:
    runbook: Path
    hey: str
    runs: int
    quick: bool
    ledger_off: str = ""
    preface: str = ""
    commands: dict = field(default_factory=dict)
    current: str = ""
    cache: dict = field(default_factory=dict)

    def note_command(self, command: str):
        listed = self.commands.setdefault(self.current, [])
        if command not in listed:
            listed.append(command)

    def sandbox(self, *args: str) -> Sandbox:
        return Sandbox(self, list(args))

    def retry_sandbox(self, tasks: int, *args: str) -> Sandbox:
        """A sandbox whose generic API holds `tasks` retryable tasks (half its mix is)."""
        return self.sandbox("--tasks", f"http={2 * tasks}", *args)

    def retry_all(
        self, sandbox: Sandbox, tasks: int, concurrency: int, *args: str, run=timed, ids=None
    ):
        """Plays bench/playbooks/retry.yaml over `tasks` retryable ids (`ids` when the caller
        listed them already, outside what it measures of the sandbox): (the run, the ids)."""
        ids = ids if ids is not None else sandbox.retryable_ids(tasks)
        played = self.play(
            sandbox, "retry.yaml", "--concurrency", str(concurrency), *args, ids=ids, run=run
        )
        return played, ids

    def retry_seconds(self, tasks: int, concurrency: int, *args: str) -> float:
        """Seconds one run of retry.yaml takes over `tasks` ids, on a fresh sandbox."""
        with self.retry_sandbox(tasks) as sandbox:
            return self.retry_all(sandbox, tasks, concurrency, *args)[0].seconds

    def play(
        self, sandbox: Sandbox, playbook: str, *args: str, ids: Optional[list] = None, run=timed
    ) -> Timed:
        """`runbook play bench/playbooks/PLAYBOOK` in a fresh directory (so a fresh ledger), run by
        `run(command, cwd, env)` (`timed` unless a diagnostic watches the process otherwise)."""
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
            result = run(command, Path(directory), env)
        if result.code != 0:
            raise SystemExit(
                f"bench: runbook exited {result.code} on {playbook}:\n{result.stderr[-2000:]}"
            )
        return result

    def hey_run(self, url: str, requests: int, concurrency: int, method: str = "GET") -> float:
        """`hey` on `url`: hey's CPU seconds. Its rate is read at the server, from the journal,
        as runbook's is (bench/cases.py's `arrivals`)."""
        args = ["-n", str(requests), "-c", str(concurrency), "-m", method, "-H", AUTH, url]
        shown = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", shlex.join(["hey", *args]))
        self.note_command(shown)
        with tempfile.TemporaryFile() as out:
            process = subprocess.Popen([self.hey, *args], stdout=out, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            out.seek(0)
            text = out.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"bench: hey exited {os.waitstatus_to_exitcode(status)}:\n{text}")
        return usage.ru_utime + usage.ru_stime

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def median(values) -> float:
    return statistics.median(values)


def judge(value: float, target: float, at_least: bool) -> bool:
    return value >= target if at_least else value <= target

