"""Progress bars for the long dev-only runs (``zosi-skill local load``, ``make bench``).

tqdm draws on stderr and only when stderr is a terminal (``disable=None``): piped or in CI the runs
stay as quiet as before, and stdout carries only the report. Nothing in skill/ imports this.
"""

from __future__ import annotations

import sys
from typing import Any


def bar(total: int, description: str, unit: str = "it") -> Any:
    """A tqdm bar, or a disabled one that accepts the same calls when stderr is not a TTY."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=None, leave=False)
