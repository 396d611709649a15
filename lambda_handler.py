"""AWS Lambda entry points of the ZOSI Smart skill backend.

``handler`` serves Alexa (directives, custom requests, skill events) and the ACCloud webhook;
``retention`` is the daily scheduled inactivity-erasure job (template.yaml, RetentionFunction).
"""

from typing import Any

from skill import coldstart

coldstart.pause()  # until the first invocation has answered (skill/coldstart.py says why)

from skill.app import route  # noqa: E402
from skill.config import settings  # noqa: E402
from skill.privacy.logs import configure  # noqa: E402

configure(settings().log_level)


def handler(event: Any, context: Any) -> Any:
    try:
        return route(event, context)
    finally:
        coldstart.resume()


def retention(event: Any, context: Any) -> Any:
    from skill.privacy.retention import run

    try:
        return run(event, context)
    finally:
        coldstart.resume()
