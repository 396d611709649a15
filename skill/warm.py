"""What a warm Lambda container keeps between invocations, in one place.

Every module-level cache, pool or client registers how to forget itself when it is imported
(``@warm.register``); ``reset()`` makes the process look like a new container to the local stack,
the bench and the tests. A module not imported yet holds nothing, so nothing is missed.
Plumbing: standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

Reset = TypeVar("Reset", bound=Callable[[], None])

_lock = threading.Lock()
_resets: dict[str, Callable[[], None]] = {}


def register(reset: Reset, *, name: str | None = None) -> Reset:
    """Remember ``reset`` for ``reset()``; usable as a decorator. Registering under a name already
    taken replaces the old entry (a reloaded module does not leave its old state's reset behind)."""
    key = name or f"{reset.__module__}.{reset.__qualname__}"
    with _lock:
        _resets[key] = reset
    return reset


def reset(*, keep: tuple[str, ...] = ()) -> None:
    """Forget every registered per-container state: settings, clients, pools, secrets, keys, users;
    except what modules named in ``keep`` hold (a test of one cache surviving a settings change)."""
    with _lock:
        resets = [forget for key, forget in _resets.items() if not key.startswith(keep)]
    for forget in resets:
        forget()


def registered() -> list[str]:
    """The names of the registered resets (tests check that every cache is among them)."""
    with _lock:
        return sorted(_resets)
