"""Classify an incoming Lambda event and hand it to exactly one side of the skill.

Each side (smart home, voice, webhook) is imported on first use, so a smart-home cold start never
loads ask-sdk. ``classify`` looks at top-level keys only, so an event of any depth is classified
safely; each side bounds its event before it reads further.
Details: docs/architecture.md, "Two functions, four kinds of event".
"""

from __future__ import annotations

import logging
from typing import Any

from models.fence import request_starting
from skill.privacy.logs import correlation_id, log

_log = logging.getLogger(__name__)


def classify(event: Any) -> str:
    if not isinstance(event, dict):
        return "unknown"
    if "directive" in event:
        return "smarthome"
    if "request" in event and "version" in event:
        return "custom"
    request_context = event.get("requestContext")
    if isinstance(request_context, dict) and ("http" in request_context or "httpMethod" in event):
        return "webhook"
    return "unknown"


def route(event: Any, context: Any = None) -> Any:
    # Until a side knows better (a directive's messageId), log lines carry the Lambda request id.
    correlation_id.set(getattr(context, "aws_request_id", None))
    # The invocation's start, on the Lambda's clock: writes that could create user data are refused
    # if an erasure of that user completed after it (models.fence explains the choice of clock).
    with request_starting():
        return _route(event, context)


def _route(event: Any, context: Any) -> Any:
    kind = classify(event)
    if kind == "smarthome":
        from skill.smarthome.dispatch import handle

        return handle(event, context)
    if kind == "custom":
        return _custom(event, context)
    if kind == "webhook":
        return _webhook(event, context)
    log(_log, logging.WARNING, "unrecognised event", event_type=type(event).__name__)
    return {"error": "unsupported event", "accepted": ["directive", "request", "http"]}


def _custom(event: dict[str, Any], context: Any) -> Any:
    from skill.voice.dispatch import handle

    return handle(event, context)


def _webhook(event: dict[str, Any], context: Any) -> Any:
    from skill.proactive.webhook import handle

    return handle(event, context)
