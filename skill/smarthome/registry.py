"""Directive handlers keyed by ``(namespace, name)``.

Interface modules register with ``@handles(namespace, name)``; the dispatcher looks the pair
up and answers INVALID_DIRECTIVE for anything unregistered. No if/elif chains.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skill.smarthome.context import DirectiveContext

Handler = Callable[["DirectiveContext"], dict[str, Any]]

HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(namespace: str, name: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        key = (namespace, name)
        if key in HANDLERS and HANDLERS[key] is not func:
            raise RuntimeError(f"two handlers for {namespace}.{name}")
        HANDLERS[key] = func
        return func

    return register


def lookup(namespace: str, name: str) -> Handler | None:
    return HANDLERS.get((namespace, name))
