"""Depth bombs for tests: structures and JSON text nesting ``depth`` levels, built by loops (no
recursive builder, json.dumps included, survives the depths that matter)."""

from __future__ import annotations

import json
from typing import Any


def nest(depth: int, leaf: Any = "x", shape: str = "array") -> Any:
    """``leaf`` inside ``depth`` containers: arrays, objects, or both in turn."""
    value = leaf
    for level in range(depth):
        as_array = shape == "array" or (shape == "mixed" and level % 2 == 0)
        value = [value] if as_array else {"k": value}
    return value


def nest_text(depth: int, leaf: Any = "x", shape: str = "array") -> str:
    """The JSON text of ``nest(depth, leaf, shape)``, without building it."""
    opening, closing = [], []
    for level in range(depth):
        as_array = shape == "array" or (shape == "mixed" and level % 2 == 0)
        opening.append("[" if as_array else '{"k":')
        closing.append("]" if as_array else "}")
    return "".join(reversed(opening)) + json.dumps(leaf) + "".join(closing)
