"""The erasure fence: a request that began before an erasure completed can never write the user back.

The race it closes: a request reads or decides while the user's partition still exists (say
AcceptGrant exchanging its code), SkillDisabled erases the partition, then the request writes -
and an unconditional create would bring the erased rows back, lacking the Alexa user key that
lets a later SkillDisabled find them.

How: ``skill.privacy.erasure.erase_account`` writes an ``ErasureFence`` row (``models.items``) for
the user *before* deleting anything (state "erasing", ``started_at``) and marks it "erased" with
``completed_at`` afterwards. Every write that can create a row of a user (``models.store``:
profile, link and grant, endpoint index entries) is one TransactWriteItems
that holds the write and a ConditionCheck on that fence row, so it succeeds only if

* there is no fence for the user, or
* the fence says the erasure *completed before this request started* (a fresh request: the user
  enabled and linked the skill again), or
* the fence has expired (DynamoDB removes TTL rows late; an erasure that crashed half-way stops
  blocking the user after ``FENCE_LIFETIME``).

A request that started before or during the erasure is refused (``ErasedDuringRequest``) and
stores nothing. Why this is enough: the fence PutItem and every fenced transaction touch the same
item, so DynamoDB serializes them. A transaction ordered before the fence has fully committed
before the erasure's (strongly consistent) Query runs, which therefore finds and deletes its rows;
one ordered after the fence sees it and is refused. Writes that can only change an existing row
(``touch_profile``, ``set_events_permitted``, the refresh lease) need no fence: they are
conditional on the row existing.

The request's start is taken when ``skill.app.route`` receives the Lambda invocation, on the
Lambda's clock: the erasure's times come from the same clock family (Amazon Time Sync; containers
agree to well under a millisecond), so comparing them is sound. Alexa's ``request.timestamp`` was
not used: it is another system's clock, second-granular, and a skill event Alexa redelivers late
is older than any fence lifetime tied to Lambda invocations. Outside an invocation (tests, the
local CLI) a write's own time is the request's start.

This module is free of pynamodb: ``skill.app`` imports it on every cold start.
"""

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
