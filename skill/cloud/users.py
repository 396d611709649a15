"""Bearer token -> ACCloud user, cached per warm container.

The cache is keyed by a SHA-256 of the token (the token itself is never kept), bounded, and
an entry lives until the token expires or ``MAX_AGE_SECONDS`` pass, whichever is first. It
serves the directives whose own ACCloud call carries the token (streams, discovery, state:
ACCloud refuses a revoked token there at once), so they make one call instead of two. Flows
that create a grant or read or erase stored data pass ``verify=True``: ACCloud is asked every
time, so a revoked token fails at once there too (docs/security.md).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime

from skill import warm
from skill.cloud.contract import CameraCloud, CloudUser

MAX_ENTRIES = 2048
MAX_AGE_SECONDS = 300.0

_lock = threading.Lock()
_cache: OrderedDict[bytes, tuple[float, CloudUser]] = OrderedDict()


def _key(token: str) -> bytes:
    # surrogatepass: a lone surrogate (JSON "\ud800") must reach the client, which refuses the token.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def resolve(cloud: CameraCloud, token: str, *, verify: bool = False) -> CloudUser:
    """The user of ``token``; ``verify`` asks ACCloud even when the cache knows the token
    (and refreshes the entry), so a token ACCloud revoked is refused now, not within minutes."""
    key = _key(token)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            if hit[0] > now and not verify:
                _cache.move_to_end(key)
                return hit[1]
            del _cache[key]
    user = cloud.me(token)
    valid_for = MAX_AGE_SECONDS
    if user.token_expires_at is not None:
        valid_for = min(valid_for, (user.token_expires_at - datetime.now(UTC)).total_seconds())
    if valid_for > 0:
        with _lock:
            _cache[key] = (now + valid_for, user)
            _cache.move_to_end(key)
            while len(_cache) > MAX_ENTRIES:
                _cache.popitem(last=False)
    return user


def forget(token: str) -> None:
    """Drop a token that ACCloud just rejected."""
    with _lock:
        _cache.pop(_key(token), None)


@warm.register
def reset() -> None:
    with _lock:
        _cache.clear()


def size() -> int:
    return len(_cache)
