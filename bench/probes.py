"""Round trips and CPU time of a request.

AWS API calls are counted by a botocore ``before-call`` hook (once per call, retries not
counted); the handler's own time is its thread's CPU time, which leaves out every wait - for
the upstreams and for the GIL the loopback servers hold. Details: docs/performance.md, "Method".
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
_UNIQUE = "zosi-bench-call"
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


class Probe:
    def __init__(self) -> None:
        self.aws_calls: Counter[str] = Counter()  # "dynamodb.Query" -> count
        self._lock = threading.Lock()

    def attach(self) -> None:
        """Hook the skill's current botocore session and clients (again after a container reset)."""
        from skill import aws

        emitters = [aws.session()] + [client.meta.events for client in list(aws._clients.values())]
        for emitter in emitters:
            emitter.register("before-call", self._before_call, unique_id=_UNIQUE)

    def reset(self) -> None:
        with self._lock:
            self.aws_calls.clear()

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.aws_calls)

    def _before_call(self, model: Any = None, **_: Any) -> None:
        if model is not None:
            with self._lock:
                self.aws_calls[f"{model.service_model.service_name}.{model.name}"] += 1


def dynamodb_calls(calls: Counter[str]) -> dict[str, int]:
    """Reads and writes among the counted calls."""
    ops = {k.split(".", 1)[1]: n for k, n in calls.items() if k.startswith("dynamodb.")}
    reads = sum(n for op, n in ops.items() if op in DYNAMODB_READS)
    return {"reads": reads, "writes": sum(ops.values()) - reads}


@dataclass(frozen=True)
class Timed:
    result: Any
    wall_ms: float
    cpu_ms: float
    aws_calls: Counter[str]


def timed(probe: Probe, call: Callable[[], Any]) -> Timed:
    """Run ``call`` once: its result, wall and own CPU milliseconds, and the AWS calls it made."""
    probe.reset()
    wall, cpu = time.perf_counter(), time.thread_time()
    result = call()
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    return Timed(result, wall * 1000, cpu * 1000, probe.snapshot())
