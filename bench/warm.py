"""Warm cost per request kind, and the round trips each makes.

In-process (ACCloud answered by ``bench.fakes.InProcessCloud``) and end to end (every backend on
loopback), both in a warm container; each sample is wall time and the handler's own CPU time.
Details: docs/performance.md, "Method", "Warm cost per request".
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from bench import events
from bench.fakes import InProcessCloud
from bench.probes import DYNAMODB_READS, Probe, timed
from bench.stack import BenchStack
from devstack.load import percentile

KINDS = (
    "Discover",
    "InitializeCameraStreams",
    "InitiateSessionWithOffer",
    "ReportState",
    "AcceptGrant",
    "doorbell press",
    "LaunchRequest",
)
EXPECTED = {
    "Discover": "Discover.Response",
    "InitializeCameraStreams": "Response",
    "InitiateSessionWithOffer": "AnswerGeneratedForSession",
    "ReportState": "StateReport",
    "AcceptGrant": "AcceptGrant.Response",
    "doorbell press": "202",
    "LaunchRequest": "speech",
}


class LogSink:
    """A stream that keeps nothing: counts the bytes the skill logs."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text)
        return len(text)

    def flush(self) -> None:
        return None


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)  # ms
    own: list[float] = field(default_factory=list)  # ms
    aws_calls: list[Counter[str]] = field(default_factory=list)
    http: list[dict[str, int]] = field(default_factory=list)
    log_bytes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "n": len(self.wall),
            "wall_p50": round(percentile(self.wall, 50), 3),
            "wall_p99": round(percentile(self.wall, 99), 3),
            "own_p50": round(percentile(self.own, 50), 3),
            "own_p99": round(percentile(self.own, 99), 3),
            "log_bytes": round(statistics.median(self.log_bytes)) if self.log_bytes else 0,
        }

    def round_trips(self) -> dict[str, Any]:
        """The calls of the most common iteration (and whether any iteration differed)."""
        shapes = Counter(
            (tuple(sorted(calls.items())), tuple(sorted(http.items())))
            for calls, http in zip(self.aws_calls, self.http, strict=True)
        )
        (aws, http), _ = shapes.most_common(1)[0]
        aws_calls = dict(aws)
        dynamodb = {k.split(".", 1)[1]: n for k, n in aws_calls.items() if k.startswith("dynamodb.")}
        reads = sum(n for op, n in dynamodb.items() if op in DYNAMODB_READS)
        return {
            "dynamodb": sum(dynamodb.values()),
            "dynamodb_reads": reads,
            "dynamodb_writes": sum(dynamodb.values()) - reads,
            "dynamodb_ops": dynamodb,
            "other_aws": {k: n for k, n in aws_calls.items() if not k.startswith("dynamodb.")},
            "http": {k: n for k, n in dict(http).items() if n},
            "stable": len(shapes) == 1,
        }


SINK = LogSink()
_quiet_depth = 0


@contextmanager
def quiet_logs() -> Iterator[LogSink]:
    """The skill's log lines (and printed metric lines) go to ``SINK`` instead of stdout."""
    global _quiet_depth
    from skill.config import settings
    from skill.privacy import logs

    if _quiet_depth == 0:
        logs.configure(settings().log_level, stream=SINK)
    _quiet_depth += 1
    try:
        with redirect_stdout(SINK):  # EMF metric lines are printed
            yield SINK
    finally:
        _quiet_depth -= 1
        if _quiet_depth == 0:
            logs.configure(settings().log_level, stream=sys.stdout)


def outcome(answer: Any) -> str:
    if isinstance(answer, dict) and "event" in answer:
        return str(answer["event"]["header"]["name"])
    if isinstance(answer, dict) and "statusCode" in answer:
        return str(answer["statusCode"])
    if isinstance(answer, dict) and "response" in answer:
        return "speech" if answer["response"].get("outputSpeech") else "silent"
    return type(answer).__name__


def sample(
    kind: str,
    make_event: Callable[[], dict[str, Any]],
    call: Callable[[dict[str, Any]], Any],
    iterations: int,
    stack: BenchStack,
    probe: Probe,
    sink: LogSink,
) -> Samples:
    found = Samples()
    for _ in range(iterations):
        event = make_event()
        before_http, before_log = stack.counters(), sink.bytes
        run = timed(probe, lambda event=event: call(event))  # type: ignore[misc]
        got = outcome(run.result)
        if got != EXPECTED[kind]:
            detail = (
                run.result.get("event", {}).get("payload") if isinstance(run.result, dict) else run.result
            )
            raise RuntimeError(f"{kind} answered {got} ({detail}), expected {EXPECTED[kind]}")
        after_http = stack.counters()
        found.wall.append(run.wall_ms)
        found.own.append(run.cpu_ms)
        found.aws_calls.append(run.aws_calls)
        found.http.append({k: after_http[k] - before_http[k] for k in after_http})
        found.log_bytes.append(sink.bytes - before_log)
    return found


def iterations_for(kind: str, scale: float) -> int:
    base = {"AcceptGrant": 30, "doorbell press": 60, "Discover": 100, "LaunchRequest": 100}.get(kind, 300)
    return max(5, int(base * scale))


def event_makers(stack: BenchStack) -> dict[str, Callable[[], dict[str, Any]]]:
    token, endpoint = stack.token, stack.endpoint
    return {
        "Discover": lambda: events.discover(token),
        "InitializeCameraStreams": lambda: events.initialize_streams(token, endpoint),
        "InitiateSessionWithOffer": lambda: events.offer(token, endpoint),
        "ReportState": lambda: events.report_state(token, endpoint),
        "AcceptGrant": lambda: events.accept_grant(token, stack.grant_code()),
        "doorbell press": stack.press,
        "LaunchRequest": lambda: events.launch(token),
    }


def in_process(stack: BenchStack, probe: Probe, scale: float) -> dict[str, Samples]:
    import lambda_handler
    from skill.cloud.client import HttpCameraCloud
    from skill.smarthome import dispatch
    from skill.voice import dispatch as voice

    who = HttpCameraCloud().me(stack.token)  # the same user and link the stack knows
    cloud = InProcessCloud()
    cloud.add_account(stack.token, who.user_id, who.link_id, stack.local.accloud.devices("alice"))

    def directive(event: dict[str, Any]) -> Any:
        return dispatch.handle(event, None, cloud_factory=cloud.factory)

    def spoken(event: dict[str, Any]) -> Any:
        return voice.handle(event, None, cloud_factory=cloud.factory)

    def other(event: dict[str, Any]) -> Any:
        return lambda_handler.handler(event, None)

    callers = {"doorbell press": other, "LaunchRequest": spoken}
    results = {}
    makers = event_makers(stack)
    with quiet_logs() as sink:
        for kind in KINDS:
            call = callers.get(kind, directive)
            results[kind] = sample(kind, makers[kind], call, iterations_for(kind, scale), stack, probe, sink)
    return results


def end_to_end(stack: BenchStack, probe: Probe, scale: float) -> dict[str, Samples]:
    import lambda_handler

    def call(event: dict[str, Any]) -> Any:
        return lambda_handler.handler(event, None)

    results = {}
    makers = event_makers(stack)
    with quiet_logs() as sink:
        for kind in KINDS:
            iterations = max(5, iterations_for(kind, scale) // 3)
            results[kind] = sample(kind, makers[kind], call, iterations, stack, probe, sink)
    return results
