"""Cold start: fresh interpreter processes, the subject against the floor, measured the same way.

The parent reads ``time.perf_counter()`` just before spawning ``bench/child.py``; the child reads
it on its first line and after each step (CLOCK_MONOTONIC is one clock for every process), so
start-up counts alike for floor and subject. The budget is the median over alternating pairs of
subject total / floor total. Details: docs/performance.md, "Method", "Cold start".
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import events
from bench.stack import BenchStack

CHILD = Path(__file__).resolve().parent / "child.py"
MARKER = "BENCH-RESULT "


def run_child(mode: str, job: dict[str, Any], env: dict[str, str], package: Path) -> dict[str, Any]:
    """One fresh interpreter on ``package`` alone (``-I -S``: no site-packages, no environment
    overrides of Python itself); its result with ``spawned``, the parent's clock at spawn."""
    payload = json.dumps({"root": str(package), **job})
    spawned = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(CHILD), mode],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        cwd=package,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout)[-2000:]
        raise RuntimeError(f"benchmark child ({mode}) failed with code {done.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    result["spawned"] = spawned
    return result


def timings(result: dict[str, Any]) -> dict[str, float]:
    """Milliseconds: start, body, total, and each step of the body."""
    started, spawned = result["started"], result["spawned"]
    marks = result["marks"]
    ready = marks[-1][1]
    steps, previous = {}, started
    for name, at in marks:
        steps[name] = (at - previous) * 1000
        previous = at
    return {
        "maxrss_kb": result["maxrss_kb"],
        "cpu": result["cpu_ms"],
        "start": (started - spawned) * 1000,
        "body": (ready - started) * 1000,
        "total": (ready - spawned) * 1000,
        **{f"step:{k}": v for k, v in steps.items()},
    }


# The cold starts measured, each against the floor: the job's events in order and the answers
# they must get. "mixed" is the first Discover then the first stream (Discover needs DynamoDB, so
# botocore); the other two are a container whose first request is a live view, which reads the
# pseudonym keys through the secrets extension and needs no AWS call at all.
SUBJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "mixed": (("discover", "Discover.Response"), ("stream", "Response")),
    "stream": (("stream", "Response"),),
    "webrtc": (("webrtc", "AnswerGeneratedForSession"),),
}


def subject_job(stack: BenchStack, subject: str = "mixed") -> dict[str, Any]:
    build = {
        "discover": lambda: events.discover(stack.token),
        "stream": lambda: events.initialize_streams(stack.token, stack.endpoint),
        "webrtc": lambda: events.offer(stack.token, stack.endpoint),
    }
    return {
        "region": stack.local.env()["AWS_REGION"],
        "events": [[kind, build[kind]()] for kind, _ in SUBJECTS[subject]],
    }


def measure(
    stack: BenchStack, package: Path, runs: int, subject: str = "mixed", env: dict[str, str] | None = None
) -> dict[str, Any]:
    """``runs`` alternating pairs of floor and ``subject`` (after one discarded pair); ``env``
    overrides the stack's child environment (e.g. without the secrets extension)."""
    env = {**stack.child_env(), **(env or {})}
    job = subject_job(stack, subject)
    expected = [answer for _, answer in SUBJECTS[subject]]
    samples: dict[str, list[dict[str, float]]] = {"floor": [], "subject": []}
    for number in range(runs + 1):
        for mode in ("floor", "subject"):
            result = run_child(mode, job, env, package)
            if mode == "subject" and result["outcomes"] != expected:
                raise RuntimeError(f"cold-start subject answered {result['outcomes']}, expected {expected}")
            if number > 0:  # the first pair warms the page and bytecode caches
                samples[mode].append(timings(result))
    summary: dict[str, Any] = {"runs": runs, "subject_kind": subject}
    for mode, rows in samples.items():
        summary[mode] = {k: round(statistics.median(r[k] for r in rows), 1) for k in rows[0]}
        summary[mode]["total_all"] = [round(r["total"], 1) for r in rows]
    pairs = list(zip(samples["floor"], samples["subject"], strict=True))
    # The budget's figure: the median over the pairs of subject total / the floor total of the run
    # just before it. Other load on a shared machine comes in phases of seconds (a busy sibling
    # vCPU slows everything ~1.6x); a pair runs within a second, so both of its runs see the same
    # phase. Beside it: the ratio of the medians, and the median of the CPU-time ratios, which
    # the waits for loopback servers do not stretch.
    summary["ratio"] = round(statistics.median(s["total"] / f["total"] for f, s in pairs), 3)
    summary["ratio_of_medians"] = round(summary["subject"]["total"] / summary["floor"]["total"], 3)
    summary["cpu_ratio"] = round(statistics.median(s["cpu"] / f["cpu"] for f, s in pairs), 3)
    return summary
