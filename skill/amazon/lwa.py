"""Login with Amazon (LWA) token client for the Alexa Event Gateway grant.

``exchange_code`` keeps to the time the AcceptGrant directive has left, so a slow LWA still
leaves the skill time to answer Alexa. Failures are typed (``InvalidGrant``, ``LwaRejected``,
``LwaUnavailable``); tokens, codes and the client secret never reach logs, messages or reprs.
Details: docs/architecture.md, "Login with Amazon".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from skill import bounded, http, secrets, warm
from skill.config import ConfigError, check_outbound_url, settings

CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 2.0
MAX_RESPONSE_BYTES = 64 * 1024
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class LwaError(Exception):
    """Base of LWA failures. Messages carry at most LWA's error code, never a token or secret."""


class InvalidGrant(LwaError):
    """LWA answered ``invalid_grant``: code used/expired, or refresh token revoked (skill disabled)."""


class LwaRejected(LwaError):
    """LWA refused the request for another reason (e.g. ``invalid_client``); retrying will not help."""


class LwaUnavailable(LwaError):
    """Timeout, connection failure, throttling, 5xx or a malformed answer; worth retrying later."""


@dataclass(frozen=True)
class LwaTokens:
    """An LWA access/refresh token pair. The tokens are kept out of repr so they never get logged."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime


def exchange_code(code: str, *, time_left: float | None = None) -> LwaTokens:
    """Exchange an AcceptGrant authorization code (valid a few minutes, single use) for tokens.

    ``time_left``: seconds the whole call may take (connect + answer); None keeps the fixed timeouts.
    """
    sent_at = _now()  # expiry counts from the request, so clock time spent waiting is not credited
    answer = _post_token({"grant_type": "authorization_code", "code": code}, time_left=time_left)
    return _tokens_from(answer, sent_at=sent_at, fallback_refresh_token=None)


def refresh(refresh_token: str) -> LwaTokens:
    """New tokens from a refresh token. If LWA does not rotate the refresh token, the old one is kept."""
    sent_at = _now()
    answer = _post_token({"grant_type": "refresh_token", "refresh_token": refresh_token})
    return _tokens_from(answer, sent_at=sent_at, fallback_refresh_token=refresh_token)


_pool = http.Pool(num_pools=2, maxsize=4)
warm.register(_pool.reset, name=f"{__name__}._pool")


# --- internals ------------------------------------------------------------------------------


def _client_credentials() -> dict[str, str]:
    try:
        secret = secrets.get(settings().lwa_secret_id)
    except secrets.SecretUnavailable:
        raise LwaUnavailable("LWA client credentials unavailable") from None
    client_id, client_secret = secret.get("client_id"), secret.get("client_secret")
    if (
        not isinstance(client_id, str)
        or not isinstance(client_secret, str)
        or not client_id
        or not client_secret
    ):
        raise LwaRejected("LWA client credentials malformed")
    return {"client_id": client_id, "client_secret": client_secret}


def _post_token(fields: dict[str, str], *, time_left: float | None = None) -> dict[str, Any]:
    # The deadline starts before the secret is read: a cold Secrets Manager read spends the same budget.
    seconds = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS if time_left is None else time_left
    deadline = http.Deadline(seconds)
    s = settings()
    try:
        check_outbound_url(s.lwa_token_url, s)
    except ConfigError:
        raise LwaRejected("LWA token URL must use https") from None
    with http.bounded_by(deadline):
        body = urlencode({**fields, **_client_credentials()})
    try:
        response = http.request(
            _pool,
            "POST",
            s.lwa_token_url,
            deadline=deadline,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            headers={
                "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
                "Accept": "application/json",
            },
            body=body.encode("ascii"),
            max_bytes=MAX_RESPONSE_BYTES + 1,
        )
    except http.Unreachable as exc:
        raise LwaUnavailable(f"LWA unreachable: {exc}") from None
    raw = response.data
    status = response.status
    if len(raw) > MAX_RESPONSE_BYTES:
        raise LwaUnavailable("LWA answer too large")
    parsed = _json_object(raw)
    if status == 200:
        if parsed is None:
            raise LwaUnavailable("LWA answer is not a JSON object")
        return parsed
    code = _error_code(parsed)
    if status == 429 or status >= 500:
        raise LwaUnavailable(f"LWA answered {status}")
    if code == "invalid_grant":
        raise InvalidGrant("LWA answered invalid_grant")
    if 400 <= status < 500:
        raise LwaRejected(f"LWA answered {status} {code or 'without an error code'}")
    raise LwaUnavailable(f"LWA answered unexpected status {status}")


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = bounded.loads(raw, max_bytes=MAX_RESPONSE_BYTES)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _error_code(parsed: dict[str, Any] | None) -> str:
    code = parsed.get("error") if parsed else None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else ""


def _tokens_from(
    answer: dict[str, Any], *, sent_at: datetime, fallback_refresh_token: str | None
) -> LwaTokens:
    access_token = answer.get("access_token")
    refresh_token = answer.get("refresh_token") or fallback_refresh_token
    expires_in = answer.get("expires_in")
    if not isinstance(access_token, str) or not access_token:
        raise LwaUnavailable("LWA answer lacks access_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise LwaUnavailable("LWA answer lacks refresh_token")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        raise LwaUnavailable("LWA answer lacks a valid expires_in")
    return LwaTokens(access_token, refresh_token, sent_at + timedelta(seconds=int(expires_in)))


def _now() -> datetime:
    return datetime.now(UTC)
