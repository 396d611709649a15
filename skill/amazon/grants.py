"""The Login-with-Amazon grant of an account link: store, use, refresh, delete.

The grant is stored envelope-encrypted on its ``AccountLink`` row. Refreshes are serialized
across containers by a version-conditioned lease on the row, so exactly one refresh runs per
expiry and the stored refresh token is always the latest one.
Details: docs/architecture.md, "The grant and its refresh lease".
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta

from models import store
from models.items import AccountLink
from skill import http
from skill.amazon import lwa
from skill.privacy import envelope, logs, pseudonyms

REFRESH_MARGIN = timedelta(minutes=5)
STILL_USABLE = timedelta(seconds=60)
# Longer than a refresh can take: LWA (2 s connect + 2 s read) plus KMS (two attempts of 1 s + 2 s).
LEASE_SECONDS = 15
# How long a caller waits for another container's refresh before giving up with LwaUnavailable
# (a winner normally finishes in well under a second; a dead one's lease is taken over later).
# Never longer than the request's own deadline (skill.http): the webhook then answers 503 in time.
WAIT_LIMIT_SECONDS = 8.0
_POLL_FIRST, _POLL_MAX = 0.05, 0.25
_GRANT_KIND = "AccountLink.grant"

log = logging.getLogger(__name__)


def store_grant(
    user_key: str, link_key: str, tokens: lwa.LwaTokens, region: str, *, policy_version: str | None = None
) -> None:
    """Store a fresh grant (after AcceptGrant), creating the link if needed and cancelling any refresh.

    With ``policy_version`` the user's profile is created (or its activity recorded) in the same
    write: all or nothing (``store.save_grant``)."""
    blob = envelope.seal(_encode(tokens), _binding(user_key, link_key))
    store.save_grant(
        user_key,
        link_key,
        region=region,
        ciphertext=blob,
        expires_at=tokens.expires_at,
        policy_version=policy_version,
    )


def delete_grant(user_key: str, link_key: str) -> bool:
    """Delete the grant but keep the link; False if there is no such link."""
    return store.clear_grant(user_key, link_key)


def valid_access_token(user_key: str, link_key: str, *, link: AccountLink | None = None) -> str | None:
    """An access token good for at least ``REFRESH_MARGIN`` (or, during another container's refresh,
    ``STILL_USABLE``), refreshing when needed; None if there is no grant or LWA revoked it.

    ``link`` may be passed when the caller has just read the row (saves one GetItem).
    Raises ``lwa.LwaUnavailable`` / ``lwa.LwaRejected`` when a needed refresh fails and the
    current token is no longer usable (or another container's refresh takes too long);
    ``envelope.CiphertextInvalid`` if the stored grant does not decrypt for its row;
    ``envelope.KeyServiceUnavailable`` / ``store.StoreUnavailable`` on AWS outages.
    """
    return _usable_token(user_key, link_key, link=link, rejected=None)


def force_refresh(user_key: str, link_key: str, rejected_access_token: str) -> str | None:
    """After the Event Gateway answered 401 for ``rejected_access_token``: a different, fresh token.

    If another container already replaced that token, its replacement is returned without a new refresh.
    """
    return _usable_token(user_key, link_key, link=None, rejected=rejected_access_token)


# --- internals ------------------------------------------------------------------------------


def _usable_token(
    user_key: str, link_key: str, *, link: AccountLink | None, rejected: str | None
) -> str | None:
    deadline = time.monotonic() + http.time_left(WAIT_LIMIT_SECONDS)
    poll = _POLL_FIRST
    owner = secrets.token_hex(16)
    if link is None:
        link = store.get_link(user_key, link_key)
    while True:
        if link is None or link.grant_ciphertext is None:
            return None
        tokens = _decode(envelope.unseal(link.grant_ciphertext, _binding(user_key, link_key)), link)
        now = _now()
        remaining = tokens.expires_at - now
        rejected_here = rejected is not None and hmac.compare_digest(tokens.access_token, rejected)
        if remaining > REFRESH_MARGIN and not rejected_here:
            return tokens.access_token
        if _lease_is_live(link, now):
            if remaining >= STILL_USABLE and not rejected_here:
                return tokens.access_token
            if time.monotonic() >= deadline:
                raise lwa.LwaUnavailable("grant refresh by another container did not finish in time")
            time.sleep(max(0.0, min(poll, deadline - time.monotonic())))
            poll = min(poll * 1.5, _POLL_MAX)
            link = store.get_link(user_key, link_key)
            continue
        if time.monotonic() >= deadline:
            raise lwa.LwaUnavailable("could not take the grant refresh lease in time")
        leased = store.acquire_refresh_lease(link, owner=owner, until=now + timedelta(seconds=LEASE_SECONDS))
        if leased is None:  # someone changed the row since we read it: look again
            link = store.get_link(user_key, link_key)
            continue
        usable = remaining >= STILL_USABLE and not rejected_here
        try:
            return _refresh_holding_lease(user_key, link_key, owner, tokens, usable=usable)
        except _LeaseLost:
            link = store.get_link(user_key, link_key)


class _LeaseLost(Exception):
    """A new grant was stored or the grant deleted while we refreshed: our tokens are stale."""


def _refresh_holding_lease(
    user_key: str, link_key: str, owner: str, current: lwa.LwaTokens, *, usable: bool
) -> str | None:
    """Refresh while holding the lease: the token to use, or None if LWA revoked the grant.

    Raises _LeaseLost if the row changed under us (the caller re-reads and starts over)."""
    try:
        fresh = lwa.refresh(current.refresh_token)
    except lwa.InvalidGrant:
        from skill.privacy import erasure

        # Amazon revoked the grant (skill disabled or permission withdrawn): only the grant goes.
        erasure.erase_grant(
            user_key, link_key, erasure.Trigger.LWA_INVALID_GRANT, lease_owner=owner, stop_events=False
        )
        return None
    except lwa.LwaError:
        _release_quietly(user_key, link_key, owner)
        if usable:  # the current token still works for a while; the next call retries the refresh
            return current.access_token
        raise
    try:
        blob = envelope.seal(_encode(fresh), _binding(user_key, link_key))
        stored = store.finish_refresh(
            user_key, link_key, owner=owner, ciphertext=blob, expires_at=fresh.expires_at
        )
    except Exception:
        _release_quietly(user_key, link_key, owner)
        raise
    if stored is None:
        raise _LeaseLost
    logs.log(log, logging.DEBUG, "LWA grant refreshed", user=pseudonyms.log_key(user_key))
    return fresh.access_token


def _release_quietly(user_key: str, link_key: str, owner: str) -> None:
    with contextlib.suppress(store.StoreUnavailable):  # the lease expires on its own after LEASE_SECONDS
        store.release_refresh_lease(user_key, link_key, owner=owner)


def _lease_is_live(link: AccountLink, now: datetime) -> bool:
    return (
        bool(link.refresh_lease_owner)
        and link.refresh_lease_until is not None
        and link.refresh_lease_until > now
    )


def _binding(user_key: str, link_key: str) -> envelope.Binding:
    return envelope.Binding(user_key, _GRANT_KIND, AccountLink.sort_key(link_key))


def _encode(tokens: lwa.LwaTokens) -> bytes:
    return json.dumps({"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}).encode(
        "utf-8"
    )


def _decode(plaintext: bytes, link: AccountLink) -> lwa.LwaTokens:
    try:
        payload = json.loads(plaintext)
        access_token, refresh_token = payload["access_token"], payload["refresh_token"]
    except (ValueError, KeyError, TypeError):
        raise envelope.CiphertextInvalid("stored grant is malformed") from None
    expires_at = link.grant_expires_at or datetime.fromtimestamp(0, UTC)
    return lwa.LwaTokens(access_token, refresh_token, expires_at)


def _now() -> datetime:
    return datetime.now(UTC)
