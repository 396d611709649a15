"""AWS Lambda entry point of the ZOSI Smart skill backend."""

from skill.app import route
from skill.config import settings
from skill.privacy.logs import configure

configure(settings().log_level)


def handler(event, context):  # type: ignore[no-untyped-def]
    return route(event, context)
