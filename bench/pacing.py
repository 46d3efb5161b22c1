#!/usr/bin/env python3
"""Issue 10's pacing cases: `rate: auto` against `runbook sandbox --rate-limit`.

Each case starts its own sandbox (`--tasks http=2N+60`, so at least N tasks are failed or timed
out), plays `pacing.yaml` (connection `rate: auto`, a retry step at concurrency 64 retrying N
tasks) and reads what the server admitted and throttled, second by second, from
`GET /_sandbox/rate-limit`. Throttled answers are counted at the server, not in runbook's report.

Targets (issue 10), with ideal = N / limit (the ~N/100 list pages add about 1%):
  announced (ietf, x)  0 throttled answers; time within 10% of ideal
  not announced        throttled <= 2% of requests; time within 15% of ideal
  limit halves at 10 s throttled <= 3% of requests; follows within 5 s: from 5 s after the
                       change on, no second holds a throttled answer and the admitted pace
                       averages at least 90% of the new limit; ideal = 10 + (N - 10 L) / (L/2)

A case costs about its ideal time: at N = 5,000, 250 s at 20/s, 25 s at 200/s, 40 s for 200/s
halving to 100/s, 490 s for 20/s halving to 10/s.

Python's standard library only, so the suite needs nothing but python3 beside runbook.

Standalone:  python3 bench/pacing.py [--tasks N] [--cases NAME,...] [--runbook PATH]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOK = os.path.join(HERE, "pacing.yaml")

# When the mid-run change happens, in seconds after the sandbox started.
CHANGE_AFTER_S = 10
# How long a client may take to follow a changed limit.
FOLLOW_WITHIN_S = 5
CONCURRENCY = 64


def case(name, limit, headers, halves=False):
    return {"name": name, "limit": limit, "headers": headers, "halves": halves}


# Every pacing case, in the order they run; pick some with --cases (names or prefixes).
CASES = [
    case("pacing-200-ietf", 200, "ietf"),
    case("pacing-200-x", 200, "x"),
    case("pacing-200-none", 200, "none"),
    case("pacing-200-halves", 200, "none", halves=True),
    case("pacing-20-ietf", 20, "ietf"),
    case("pacing-20-x", 20, "x"),
    case("pacing-20-none", 20, "none"),
    case("pacing-20-halves", 20, "none", halves=True),
]


def ideal_seconds(c, tasks):
    """What the limit alone forces: tasks / limit, or with the halving its two phases."""
    limit = c["limit"]
    if not c["halves"]:
        return tasks / limit
    before = CHANGE_AFTER_S * limit
    if tasks <= before:
        return tasks / limit
    return CHANGE_AFTER_S + (tasks - before) / (limit // 2)


def sandbox_command(runbook, c, tasks):
    command = [
        runbook, "sandbox", "--port", "0",
        "--tasks", f"http={2 * tasks + 60}",
        "--rate-limit", str(c["limit"]),
        "--rate-limit-headers", c["headers"],
    ]
    if c["halves"]:
        command += ["--rate-limit-change", f"{CHANGE_AFTER_S}s:{c['limit'] // 2}"]
    return command


def play_command(runbook, tasks):
    return [runbook, "play", PLAYBOOK, "--var", f"tasks={tasks}", "--quiet",
            "--concurrency", str(CONCURRENCY), "--ledger", "ledger.db"]


def start_sandbox(command):
    """Starts the sandbox; returns (process, origin) once its banner names the address."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    for line in process.stdout:
        found = re.match(r"runbook sandbox listening on (http://\S+)", line)
        if found:
            return process, found.group(1)
    process.kill()
    raise RuntimeError(f"the sandbox did not start: {' '.join(command)}")


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def follows(c, seconds, ended_s):
    """Whether, from FOLLOW_WITHIN_S after the change, no second was throttled and the pace held
    90% of the new limit (the run's last, partial second left out)."""
    start = CHANGE_AFTER_S + FOLLOW_WITHIN_S
    full = [s for s in seconds if start <= s["second"] < int(ended_s)]
    if not full:
        return None
    new_limit = c["limit"] // 2
    calm = all(s["throttled"] == 0 for s in full)
    mean = sum(s["admitted"] for s in full) / (int(ended_s) - start)
    return calm and mean >= 0.9 * new_limit


def run_case(c, tasks, runbook):
    """Runs one case; returns its measured figures and verdict."""
    sandbox = sandbox_command(runbook, c, tasks)
    process, origin = start_sandbox(sandbox)
    # Drain the rest of the banner: a closed pipe would stop the sandbox at its next line.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    started_at = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            env = dict(os.environ, TASKS_API_URL=f"{origin}/http",
                       TASKS_API_TOKEN="sandbox-token")
            play = play_command(runbook, tasks)
            began = time.monotonic()
            ran = subprocess.run(play, cwd=workdir, env=env, capture_output=True, text=True)
            took = time.monotonic() - began
        ended_s = time.monotonic() - started_at
        tally = get_json(f"{origin}/_sandbox/rate-limit")
    finally:
        process.terminate()
        process.wait()
    seconds = [s for s in tally["seconds"] if s["api"] == "http"]
    throttled = sum(s["throttled"] for s in seconds)
    requests = throttled + sum(s["admitted"] for s in seconds)
    ideal = ideal_seconds(c, tasks)
    share = throttled / requests if requests else 0.0
    off = abs(took - ideal) / ideal
    if c["halves"]:
        followed = follows(c, seconds, ended_s)
        met = share <= 0.03 and bool(followed)
        target = "throttled <= 3%; follows within 5 s"
    elif c["headers"] != "none":
        followed = None
        met = throttled == 0 and off <= 0.10
        target = "0 throttled; time within 10%"
    else:
        followed = None
        met = share <= 0.02 and off <= 0.15
        target = "throttled <= 2%; time within 15%"
    return {
        "case": c["name"], "tasks": tasks, "limit": c["limit"], "headers": c["headers"],
        "seconds": round(took, 1), "ideal": round(ideal, 1), "off": round(off, 3),
        "requests": requests, "throttled": throttled, "share": round(share, 4),
        "followed": followed, "exit": ran.returncode, "target": target,
        "met": met and ran.returncode == 0,
        "commands": [" ".join(sandbox), " ".join(play)],
        "stderr": ran.stderr[-2000:] if ran.returncode else "",
    }


def select(names):
    if not names:
        return CASES
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    return [c for c in CASES if any(c["name"].startswith(w) for w in wanted)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=5000, help="tasks each case retries")
    parser.add_argument("--cases", default="", help="names or prefixes, comma-separated")
    parser.add_argument("--runbook", default="target/release/runbook")
    args = parser.parse_args()
    chosen = select(args.cases)
    if not chosen:
        sys.exit(f"no pacing case matches {args.cases!r}; cases: "
                 + ", ".join(c["name"] for c in CASES))
    print("| case | tasks | time s | ideal s | requests | throttled | target | met |")
    print("|---|---|---|---|---|---|---|---|")
    for c in chosen:
        r = run_case(c, args.tasks, args.runbook)
        print(f"| {r['case']} | {r['tasks']} | {r['seconds']} | {r['ideal']} | {r['requests']} "
              f"| {r['throttled']} ({100 * r['share']:.1f}%) | {r['target']} "
              f"| {'yes' if r['met'] else 'MISS'} |", flush=True)
        if r["stderr"]:
            print(r["stderr"], file=sys.stderr)


if __name__ == "__main__":
    main()
