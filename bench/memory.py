"""Peak RSS of a container that handles the whole mix, in a fresh interpreter on the package alone.

The child (``bench/child.py subject``) imports ``lambda_handler`` and handles ``rounds`` rounds of
every request kind end to end against the loopback stack: Discover, InitializeCameraStreams,
InitiateSessionWithOffer, ReportState, AcceptGrant, a signed doorbell webhook and a voice
LaunchRequest. It reports its peak RSS (``VmHWM``, the high-water mark of its own memory since
exec; ``ru_maxrss`` would include the benchmark process's RSS at fork, see ``bench/child.py``),
which is what Lambda's "Max Memory Used" shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import cold, events
from bench.stack import BenchStack
from bench.warm import EXPECTED


def mix_events(stack: BenchStack, rounds: int) -> list[list[Any]]:
    token, endpoint = stack.token, stack.endpoint
    found: list[list[Any]] = []
    for _ in range(rounds):
        found += [
            ["Discover", events.discover(token)],
            ["InitializeCameraStreams", events.initialize_streams(token, endpoint)],
            ["InitiateSessionWithOffer", events.offer(token, endpoint)],
            ["ReportState", events.report_state(token, endpoint)],
            ["AcceptGrant", events.accept_grant(token, stack.grant_code())],
            ["doorbell press", stack.press()],
            ["LaunchRequest", events.launch(token)],
        ]
    return found


def measure(stack: BenchStack, package: Path, rounds: int) -> dict[str, Any]:
    job = {"region": stack.local.env()["AWS_REGION"], "events": mix_events(stack, rounds)}
    result = cold.run_child("subject", job, stack.child_env(), package)
    expected = [EXPECTED[kind] for kind, _ in job["events"]]
    if result["outcomes"] != expected:
        wrong = [
            (k, got)
            for (k, _), got in zip(job["events"], result["outcomes"], strict=True)
            if EXPECTED[k] != got
        ]
        raise RuntimeError(f"the memory mix got unexpected answers: {wrong[:5]}")
    return {"rounds": rounds, "requests": len(job["events"]), "maxrss_kb": result["maxrss_kb"]}
