"""CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout.

Lambda ships stdout to CloudWatch Logs, which turns each EMF line into metric data points: no
API call, no extra dependency (aws-lambda-powertools is not part of the build). Dimensions are
bounded enums only (event kind, outcome), never ids, so the metrics can carry no personal data.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

NAMESPACE = "ZOSI/Skill"

EVENT_GATEWAY_FAILURES = "EventGatewayFailures"
STALE_EVENTS_DROPPED = "StaleEventsDropped"
FUTURE_EVENTS_DROPPED = "FutureEventsDropped"
EVENTS_DELIVERED = "EventsDelivered"

_lock = threading.Lock()


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# Where EMF lines go; tests and the local CLI may replace it.
sink: Callable[[str], None] = _stdout


def emf_line(metric: str, value: float = 1, unit: str = "Count", **dimensions: str) -> str:
    """One EMF document for one metric value with the given dimensions."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": metric, "Unit": unit}],
                }
            ],
        },
        metric: value,
    }
    document.update(dimensions)
    return json.dumps(document, separators=(",", ":"))


def emit(metric: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """Write one metric value; lines from concurrent threads never interleave."""
    line = emf_line(metric, value, unit, **dimensions)
    with _lock:
        sink(line)
