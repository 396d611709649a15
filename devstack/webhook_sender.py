"""ACCloud's side of the vendor webhook: sign an event and POST it to the skill.

Header ``X-ACCloud-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
Verification (tolerance, replay, idempotency by event id) is the skill's job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

SIGNATURE_HEADER = "X-ACCloud-Signature"


def sign(secret: bytes, body: bytes, t: int) -> str:
    """The ``X-ACCloud-Signature`` header value for ``body`` sent at unix time ``t``."""
    digest = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def encode_event(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def send_event(
    url: str,
    secret: bytes | str,
    event: dict[str, Any],
    *,
    timestamp: int | None = None,
    timeout: float = 10.0,
    extra_headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST ``event`` signed with ``secret``; returns (HTTP status, response body text).

    ``timestamp`` overrides the signing time (tests: stale or future signatures).
    """
    import urllib3  # lazy: only the dev tools send webhooks

    key = secret.encode() if isinstance(secret, str) else secret
    body = encode_event(event)
    t = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(key, body, t)}
    headers.update(extra_headers or {})
    response = urllib3.request(
        "POST", url, body=body, headers=headers, timeout=timeout, retries=False, redirect=False
    )
    return response.status, response.data.decode("utf-8", errors="replace")
