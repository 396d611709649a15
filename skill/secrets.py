"""Secrets from AWS Secrets Manager, fetched on first use and cached per container.

Through the Parameters and Secrets Lambda Extension when it is there (a container that only
streams never imports botocore), otherwise through botocore, with a warning naming the reason.
A rotated secret takes effect within ``CACHE_SECONDS`` either way; values never reach logs.
Details: docs/deploy.md, 6.3 and 6.4.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from skill import aws, secrets_extension, warm
from skill.config import settings
from skill.privacy.logs import log

CACHE_SECONDS = 300.0

_log = logging.getLogger(__name__)
_lock = threading.Lock()
# secret id -> (monotonic time it expires, value)
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


class SecretUnavailable(RuntimeError):
    """The secret could not be read (missing, not JSON, AWS unreachable)."""


def get(secret_id: str) -> dict[str, Any]:
    now = time.monotonic()
    hit = _cache.get(secret_id)
    if hit is not None and now < hit[0]:
        return hit[1]
    with _lock:
        hit = _cache.get(secret_id)
        if hit is not None and now < hit[0]:
            return hit[1]
        raw, keep_seconds = _fetch(secret_id)
        try:
            value = json.loads(raw)
        except ValueError:
            raise SecretUnavailable(f"secret {secret_id!r} unavailable: not JSON") from None
        if not isinstance(value, dict):
            raise SecretUnavailable(f"secret {secret_id!r} is not a JSON object")
        _cache[secret_id] = (now + keep_seconds, value)
        return value


def _fetch(secret_id: str) -> tuple[str, float]:
    """The secret's string and how long this container may keep it."""
    config = settings()
    if config.secrets_extension_port is not None:
        try:
            raw = secrets_extension.secret_string(secret_id, config.secrets_extension_port)
        except secrets_extension.SecretError as exc:
            raise SecretUnavailable(f"secret {secret_id!r} unavailable: {exc}") from None
        except secrets_extension.ExtensionUnavailable as exc:
            log(
                _log,
                logging.WARNING,
                "secrets extension unavailable, reading through the Secrets Manager API",
                reason=str(exc),
            )
        else:
            return raw, max(CACHE_SECONDS - config.secrets_extension_ttl_seconds, 0.0)
    try:
        raw = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    except Exception as exc:  # botocore errors, KeyError: all the same to callers
        raise SecretUnavailable(f"secret {secret_id!r} unavailable: {type(exc).__name__}") from None
    return raw, CACHE_SECONDS


@warm.register
def reset() -> None:
    with _lock:
        _cache.clear()
