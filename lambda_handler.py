"""AWS Lambda entry points of the ZOSI Smart skill backend.

``handler`` serves Alexa (directives, custom requests, skill events) and the ACCloud webhook;
``retention`` is the daily scheduled inactivity-erasure job (template.yaml, RetentionFunction).
"""

from typing import Any

from skill.app import route
from skill.config import settings
from skill.privacy.logs import configure

configure(settings().log_level)


def handler(event: Any, context: Any) -> Any:
    return route(event, context)


def retention(event: Any, context: Any) -> Any:
    from skill.privacy.retention import run

    return run(event, context)
