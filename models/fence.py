"""The erasure fence: a request that began before an erasure completed can never write the user back.

Without it, a request that read while the partition existed could write after SkillDisabled erased
it, re-creating rows no later SkillDisabled finds. Why the condition is enough and which clock
it compares: docs/architecture.md, "Erasure fence". Free of pynamodb: ``skill.app`` imports it on
every cold start."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Final

ERASING: Final = "erasing"
ERASED: Final = "erased"

# How long the fence outlives its erasure (and how long an unfinished one blocks). A request that
# began before the erasure completed writes, at the latest, before its invocation ends: Lambda's
# hard limit is 15 minutes (this function's timeout is far lower). Five more cover clock
# differences and the time between the erasure's last delete and its completion write.
FENCE_LIFETIME: Final = timedelta(minutes=20)

_request_started: contextvars.ContextVar[datetime | None] = contextvars.ContextVar(
    "zosi_request_started", default=None
)


def request_started() -> datetime:
    """When the current request began; outside a request, now."""
    return _request_started.get() or datetime.now(UTC)


@contextmanager
def request_starting(at: datetime | None = None) -> Iterator[datetime]:
    """Mark the start of one request (an invocation) for the fenced writes made within it."""
    started = at or datetime.now(UTC)
    token = _request_started.set(started)
    try:
        yield started
    finally:
        _request_started.reset(token)
