"""The cyclic garbage collector across a Lambda container's cold start.

Nearly everything a cold start allocates lives as long as the container, so collecting it finds
almost nothing to free (40-170 ms of a ~300 ms cold Discover). Collection pauses until the first
invocation has answered; then the survivors are frozen (``gc.freeze``) and collection resumes.
Details: docs/performance.md, "History".
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
