"""AWS Lambda entry point of the ZOSI Smart skill backend."""

from typing import Any

from skill.app import route
from skill.config import settings
from skill.privacy.logs import configure

configure(settings().log_level)


def handler(event: Any, context: Any) -> Any:
    return route(event, context)
