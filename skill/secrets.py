"""Secrets from AWS Secrets Manager, fetched on first use and cached per container.

Each secret is a JSON object. Values never reach logs or exceptions.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from skill import aws

CACHE_SECONDS = 300.0

_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


class SecretUnavailable(RuntimeError):
    """The secret could not be read (missing, not JSON, AWS unreachable)."""


def get(secret_id: str) -> dict[str, Any]:
    now = time.monotonic()
    hit = _cache.get(secret_id)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    with _lock:
        hit = _cache.get(secret_id)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        try:
            raw = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
            value = json.loads(raw)
        except Exception as exc:  # botocore errors, KeyError, JSON errors: all the same to callers
            raise SecretUnavailable(f"secret {secret_id!r} unavailable: {type(exc).__name__}") from None
        if not isinstance(value, dict):
            raise SecretUnavailable(f"secret {secret_id!r} is not a JSON object")
        _cache[secret_id] = (now, value)
        return value


def reset() -> None:
    with _lock:
        _cache.clear()
