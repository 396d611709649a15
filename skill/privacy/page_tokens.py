"""Alexa.DataController's ``nextToken``: ACCloud's cursor carried through Alexa without the skill
storing anything, and without Alexa (or whoever holds the token) reading or steering it.

Sealed with the pseudonym primitive (``pseudonyms.seal``, AES-SIV under the endpoint key) with
the owner's pseudonymous key and the endpointId as associated data, so a token opens only for the
user and camera it was issued for; the query it pages through and an expiry are sealed inside.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from skill.privacy import pseudonyms

PREFIX = "p1_"
TTL_SECONDS = 15 * 60
MAX_TOKEN = 2048  # the project schema's nextToken; ACCloud's cursor is at most 512 characters
_AD = b"zosi-page-token-v1"


class InvalidPageToken(ValueError):
    """Altered, foreign (other user or endpoint), expired, or not a page token at all."""


@dataclass(frozen=True)
class Query:
    """What a page answers: the time range (RFC 3339, or None for open) and the page size."""

    since: str | None
    until: str | None
    limit: int


def _associated(owner_user_id: str, endpoint_id: str) -> list[bytes]:
    return [_AD, pseudonyms.user_key(owner_user_id).encode(), endpoint_id.encode("utf-8")]


def seal(owner_user_id: str, endpoint_id: str, query: Query, cursor: str, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + TTL_SECONDS)
    plain = json.dumps([cursor, expires, query.since, query.until, query.limit], separators=(",", ":"))
    return pseudonyms.seal(PREFIX, plain, _associated(owner_user_id, endpoint_id), MAX_TOKEN)


def open_token(
    owner_user_id: str, endpoint_id: str, token: object, now: float | None = None
) -> tuple[str, Query]:
    """(ACCloud's cursor, the query it was issued for), or InvalidPageToken."""
    try:
        plain = pseudonyms.unseal(PREFIX, token, _associated(owner_user_id, endpoint_id), MAX_TOKEN)
        cursor, expires, since, until, limit = json.loads(plain)
    except (pseudonyms.Unopenable, ValueError, TypeError):
        raise InvalidPageToken("page token does not open here") from None
    if (time.time() if now is None else now) >= expires:
        raise InvalidPageToken("page token expired")
    return cursor, Query(since, until, limit)
