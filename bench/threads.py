#!/usr/bin/env python3
"""Where a retry play's time goes, thread by thread: not a bench case, a diagnostic for the notes.

    python3 bench/threads.py [--runbook PATH] [--tasks N] [--concurrency C] [PLAY ARGS...]

Plays bench/playbooks/retry.yaml over N retryable ids (default 20,000; concurrency 8) against a
fresh `runbook sandbox`, as the retry cases do (`Bench.retry_all`), and prints for each of
runbook's threads its CPU time (user, system), its time on a CPU and its time waiting for one
(the kernel's /proc/PID/task/TID/schedstat), then the sandbox's CPU time over the play and the
span from the first retry to the last at the sandbox (its journal). A thread's time on a CPU
plus its wait for one, against the retry span, says whether that thread is what the others
wait for.

Threads are read every 20 ms until the play ends: a thread that ends between two reads loses its
last 20 ms at most. Linux only (it reads /proc). PLAY ARGS go to `runbook play` after the bench's
own (e.g. `--ledger :memory:`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, Bench, Timed, cpu_seconds, process_cpu  # noqa: E402
from cases import arrivals  # noqa: E402


def thread_times(pid: int, seen: dict):
    """Updates `seen` (tid → (name, user s, system s, on-CPU s, waiting s)) from /proc."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            sched = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        except OSError:
            continue
        seen[tid] = (*cpu_seconds(stat), int(sched[0]) / 1e9, int(sched[1]) / 1e9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runbook", default=str(ROOT / "target" / "release" / "runbook"))
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args, play_args = parser.parse_known_args()
    bench = Bench(runbook=Path(args.runbook).resolve(), hey="hey", runs=1, quick=False)
    seen: dict = {}

    def watched(command: list, cwd: Path, env: dict) -> Timed:
        """The play, its threads read every 20 ms into `seen` (in place of `harness.timed`)."""
        start = time.perf_counter()
        play = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        while play.poll() is None:
            thread_times(play.pid, seen)
            time.sleep(0.02)
        stderr = play.stderr.read().decode(errors="replace") if play.stderr else ""
        return Timed(time.perf_counter() - start, 0.0, play.returncode, stderr, 0.0)

    with bench.retry_sandbox(args.tasks) as sandbox:
        # Listing the ids (every task serialised) is the sandbox's work, not the play's.
        ids = sandbox.retryable_ids(args.tasks)
        served_before = process_cpu(sandbox.process.pid)
        played, _ = bench.retry_all(
            sandbox, args.tasks, args.concurrency, *play_args, run=watched, ids=ids
        )
        served = process_cpu(sandbox.process.pid) - served_before
        retries = arrivals(sandbox)
    print(f"{'thread':18} {'user s':>7} {'sys s':>7} {'on CPU s':>9} {'waiting s':>10}")
    for name, user, system, on_cpu, waiting in sorted(seen.values(), key=lambda t: -t[3]):
        print(f"{name:18} {user:7.2f} {system:7.2f} {on_cpu:9.2f} {waiting:10.2f}")
    span = (retries[-1] - retries[0]) / 1000 if retries else 0.0
    print(f"play: {played.seconds:.2f} s wall, {args.tasks / played.seconds:,.0f} retries/s; "
          f"retries at the sandbox: {len(retries):,} over {span:.2f} s; "
          f"sandbox CPU over the play: {served:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
