"""The cyclic garbage collector across a Lambda container's cold start.

Nearly everything a cold start allocates lives as long as the container: modules, botocore's
service models and clients, the pseudonym keys, connection pools. CPython's collector would
traverse that growing heap again and again and find almost nothing to free: on the development
machine a cold Discover ran ~110 collections, one of them full, for 40-170 ms of its ~300 ms, and
left ~600 unreachable objects (docs/performance.md, "History").

So collection pauses from the entry module's import until the first invocation has answered.
Then whatever survived is frozen (``gc.freeze``: moved to a permanent generation that later
collections never scan) and collection resumes for what warm invocations allocate. The price is
that the cold start's few cyclic leftovers are frozen too and never freed - a bounded, one-time
amount per container.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop cyclic collection until ``resume`` (a no-op when something else already stopped it)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """After the first invocation: freeze the survivors of the cold start, collect again. Cheap
    and idempotent, so the entry point calls it after every invocation."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
