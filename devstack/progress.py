"""Progress bars for the long dev-only runs (``zosi-skill local load``, ``make bench``).

tqdm draws on stderr and only when stderr is a terminal (``disable=None``): piped or in CI the runs
stay as quiet as before, and stdout carries only the report. tqdm's monitor thread is turned off
(the callers update often enough), so a bar adds no thread to the bench's measurements. Nothing in
skill/ imports this.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any


def bar(total: int, description: str, unit: str = "it") -> Any:
    """A tqdm bar, or a disabled one that accepts the same calls when stderr is not a TTY."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0
    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=None, leave=False)


@contextlib.contextmanager
def stages(total: int, description: str) -> Iterator[Callable[[str], None]]:
    """A bar over ``total`` named stages; call the yielded function as each stage starts."""
    with bar(total, description, unit="stage") as progress:
        begun = 0

        def start(name: str) -> None:
            nonlocal begun
            progress.update(begun - progress.n)  # the stages before this one are done
            begun += 1
            progress.set_postfix_str(name)

        yield start
        progress.update(begun - progress.n)
        progress.refresh()  # tqdm skips draws within its mininterval: the finished bar is always shown
