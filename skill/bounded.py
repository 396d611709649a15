"""Bounded JSON: decode and walk untrusted structures with a depth and a size limit.

Python's json module and every recursive walk recurse once per nesting level, so a deep body
raises RecursionError, which no ``except ValueError`` catches. ``loads`` (text from outside) and
``check`` (what Lambda already decoded; iterative, never recursing) refuse with
:class:`OutOfBounds`, a ValueError. Details: docs/reliability.md, "Depth and size limits".
"""

from __future__ import annotations

import json
from typing import Any

# Alexa's and ACCloud's messages nest fewer than 12 levels; 32 leaves room and keeps every later
# recursive walk far from Python's recursion limit (1000 frames).
MAX_DEPTH = 32
# Members (values of objects and arrays) in one decoded event: a Smart Home directive or voice
# envelope has a few hundred; Lambda accepts 6 MB, which could hold millions.
MAX_ITEMS = 10_000
_CONTAINERS = (dict, list)  # a tuple: isinstance with it is faster than with ``dict | list``


class OutOfBounds(ValueError):
    """Too deep or too large. ``reason`` is a fixed word ("too_deep", "too_large"), safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads(raw: str | bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(raw)`` for at most ``max_bytes`` of input nesting at most ``max_depth`` levels.

    Raises OutOfBounds beyond a limit, ValueError (or UnicodeDecodeError) for malformed JSON."""
    if len(raw) > max_bytes:  # a character is at least one byte: no encoding needed to refuse
        raise OutOfBounds("too_large")
    if isinstance(raw, str) and len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        raise OutOfBounds("too_large")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise OutOfBounds("too_deep") from None
    opening = raw.count("[") + raw.count("{") if isinstance(raw, str) else raw.count(b"[") + raw.count(b"{")
    if opening > max_depth:  # fewer brackets (counted in strings too) cannot nest deeper: no walk needed
        check(value, max_depth=max_depth, max_items=None)
    return value


def check(value: Any, *, max_depth: int = MAX_DEPTH, max_items: int | None = MAX_ITEMS) -> None:
    """Refuse ``value`` (decoded JSON: dicts, lists, scalars) if it nests deeper than ``max_depth``
    containers or holds more than ``max_items`` members in all; breadth first, without recursion."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    items = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise OutOfBounds("too_deep")
        nested: list[Any] = []
        for container in level:
            items += len(container)
            if max_items is not None and items > max_items:
                raise OutOfBounds("too_large")
            for member in container.values() if isinstance(container, dict) else container:
                if isinstance(member, _CONTAINERS):
                    nested.append(member)
        level = nested
