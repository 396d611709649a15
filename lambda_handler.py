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
    except Exception as exc:
        raise _for_the_runtime(exc) from None
    finally:
        coldstart.resume()


def retention(event: Any, context: Any) -> Any:
    from skill.privacy.retention import run

    try:
        return run(event, context)
    except Exception as exc:
        raise _for_the_runtime(exc) from None
    finally:
        coldstart.resume()


def _for_the_runtime(exc: Exception) -> Exception:
    """``exc`` with its type only: the Lambda runtime prints an exception that ends an invocation
    itself, outside logging and its redaction (message, traceback with source lines). The project
    logged it already where it was raised or caught; the invocation still fails, with the same type.
    """
    exc.args = (type(exc).__name__,)
    return exc.with_traceback(None)
