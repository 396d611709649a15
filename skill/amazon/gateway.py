"""Alexa Event Gateway client: send one message to one account link, and act on the answer.

Amazon's answer decides what happens to the link: 401 refreshes the grant once, 403
SKILL_DISABLED erases the link, 403 INSUFFICIENT_PERMISSION deletes the grant, 429/5xx are
retried within the caller's deadline, anything else is dropped and logged by status only.
Details: docs/architecture.md, "Event Gateway client".
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

from skill import bounded, http, metrics, warm
from skill.config import ConfigError, check_outbound_url, settings
from skill.http import MIN_ATTEMPT_SECONDS, Deadline
from skill.privacy import pseudonyms
from skill.privacy.logs import log

_log = logging.getLogger(__name__)

MAX_RETRIES = 3  # resends after a 429/5xx, as the Event Gateway documentation asks
RETRY_INTERVAL_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
MAX_ANSWER_BYTES = 64 * 1024
_AMAZON_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")

SKILL_DISABLED = "SKILL_DISABLED_EXCEPTION"
INSUFFICIENT_PERMISSION = "INSUFFICIENT_PERMISSION_EXCEPTION"

MessageBuilder = Callable[[str], dict[str, Any]]


class Outcome(Enum):
    DELIVERED = "delivered"
    NO_GRANT = "no_grant"  # the link has no (or no longer a) grant: nothing was sent
    SKILL_DISABLED = "skill_disabled"
    PERMISSION_REVOKED = "permission_revoked"
    REJECTED = "rejected"  # 400, 413 or another final answer: dropped
    UNAUTHORIZED = "unauthorized"  # 401 again with a freshly refreshed token
    RETRIES_EXHAUSTED = "retries_exhausted"  # 429 / 5xx / transport failure until retries or time ran out
    TOKEN_UNAVAILABLE = "token_unavailable"  # noqa: S105 - LWA, KMS or DynamoDB failed while getting the token

    @property
    def retryable(self) -> bool:
        """Whether a later redelivery of the same event could still succeed."""
        return self in (Outcome.RETRIES_EXHAUSTED, Outcome.TOKEN_UNAVAILABLE)


@dataclass(frozen=True)
class Recipient:
    """One Alexa account linked to a ZOSI user: where and as whom to send."""

    user_key: str
    link_key: str
    region: str
    # The AccountLink row when the caller just read it: saves the grant lookup one GetItem.
    link: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    status: int | None = None
    code: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class _Answer:
    status: int | None  # None: no answer (connection failure, timeout, no time left)
    code: str | None = None


class GatewayClient:
    """Sends messages for account links. Thread-safe; cheap to create."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_retries: int = MAX_RETRIES,
        retry_interval: float = RETRY_INTERVAL_SECONDS,
    ) -> None:
        self.sleep = sleep
        self.clock = clock
        self.max_retries = max_retries
        self.retry_interval = retry_interval

    def deadline(self, seconds: float) -> Deadline:
        return Deadline(seconds, self.clock)

    def deliver(self, recipient: Recipient, build: MessageBuilder, deadline: Deadline) -> Delivery:
        """Send ``build(token)`` to the recipient's regional gateway; never raises for gateway trouble."""
        delivery = self._deliver(recipient, build, deadline)
        fields = {
            "outcome": delivery.outcome.value,
            "status_code": delivery.status,
            "error_code": delivery.code,
            "attempts": delivery.attempts,
            "region": recipient.region,
            "user": pseudonyms.log_key(recipient.user_key),
        }
        if delivery.outcome is Outcome.DELIVERED:
            metrics.emit(metrics.EVENTS_DELIVERED)
            log(_log, logging.INFO, "event delivered to Alexa", **fields)
        elif delivery.outcome is Outcome.NO_GRANT:
            log(_log, logging.INFO, "no Alexa grant for this link; nothing sent", **fields)
        else:
            metrics.emit(metrics.EVENT_GATEWAY_FAILURES, outcome=delivery.outcome.value)
            log(_log, logging.WARNING, "event not delivered to Alexa", **fields)
        return delivery

    # --- internals ------------------------------------------------------------------------

    def _deliver(self, recipient: Recipient, build: MessageBuilder, deadline: Deadline) -> Delivery:
        from skill.amazon import grants

        s = settings()
        try:
            url = s.gateway_url(recipient.region)
            check_outbound_url(url, s)
        except ConfigError:
            return Delivery(Outcome.REJECTED, code="GATEWAY_URL_INVALID")
        token = self._token(
            partial(grants.valid_access_token, recipient.user_key, recipient.link_key, link=recipient.link)
        )
        if isinstance(token, Delivery):
            return token
        body = _encode(build(token))
        refreshed = False
        attempts = retries = 0
        while True:
            attempts += 1
            answer = _post(url, token, body, deadline)
            status, code = answer.status, answer.code
            if status == 202:
                return Delivery(Outcome.DELIVERED, status, attempts=attempts)
            if status == 401:
                if refreshed:
                    return Delivery(Outcome.UNAUTHORIZED, status, code, attempts)
                refreshed = True
                token = self._token(
                    partial(grants.force_refresh, recipient.user_key, recipient.link_key, token)
                )
                if isinstance(token, Delivery):
                    return Delivery(token.outcome, status, code, attempts)
                body = _encode(build(token))
                continue
            if status == 403:
                return Delivery(self._forbidden(recipient, code), status, code, attempts)
            if status is not None and status != 429 and status < 500:
                return Delivery(Outcome.REJECTED, status, code, attempts)
            # 429, 5xx or no answer at all: resend the same message later, if retries and time allow.
            if (
                retries >= self.max_retries
                or deadline.remaining() < self.retry_interval + MIN_ATTEMPT_SECONDS
            ):
                return Delivery(Outcome.RETRIES_EXHAUSTED, status, code, attempts)
            retries += 1
            self.sleep(self.retry_interval)

    def _token(self, fetch: Callable[[], str | None]) -> str | Delivery:
        from models.store import StoreUnavailable
        from skill.amazon.lwa import LwaError
        from skill.privacy.envelope import EnvelopeError

        try:
            token = fetch()
        except (LwaError, EnvelopeError, StoreUnavailable) as exc:
            log(_log, logging.WARNING, "Alexa grant unusable right now", reason=type(exc).__name__)
            return Delivery(Outcome.TOKEN_UNAVAILABLE)
        if token is None:
            return Delivery(Outcome.NO_GRANT)
        return token

    def _forbidden(self, recipient: Recipient, code: str | None) -> Outcome:
        from models import store
        from skill.privacy import erasure

        try:
            if code == SKILL_DISABLED:
                # The skill is disabled for this Alexa account: no DeleteReport can reach it.
                from skill.amazon.delete_report import send_delete_report

                # The sender reaches only unidentified links erased along with this one.
                erasure.erase_alexa_link(
                    recipient.user_key,
                    recipient.link_key,
                    erasure.Trigger.GATEWAY_SKILL_DISABLED,
                    notify_alexa=send_delete_report,
                )
                return Outcome.SKILL_DISABLED
            if code == INSUFFICIENT_PERMISSION:
                erasure.erase_grant(
                    recipient.user_key, recipient.link_key, erasure.Trigger.PERMISSION_WITHDRAWN
                )
                return Outcome.PERMISSION_REVOKED
        except store.StoreUnavailable as exc:
            # The next event meets the same 403 and tries again; nothing is lost by not raising.
            log(_log, logging.ERROR, "could not record the gateway's 403", reason=str(exc))
            return Outcome.SKILL_DISABLED if code == SKILL_DISABLED else Outcome.PERMISSION_REVOKED
        return Outcome.REJECTED


# --- HTTP -----------------------------------------------------------------------------------

_pool = http.Pool(num_pools=3, maxsize=8)
warm.register(_pool.reset, name=f"{__name__}._pool")


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _post(url: str, token: str, body: bytes, deadline: Deadline) -> _Answer:
    try:
        reply = http.request(
            _pool,
            "POST",
            url,
            deadline=deadline,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body=body,
            max_bytes=MAX_ANSWER_BYTES,
        )
    except http.Unreachable:
        return _Answer(None)
    return _Answer(reply.status, _amazon_code(reply.data))


def _amazon_code(raw: bytes) -> str | None:
    """``payload.code`` of a gateway error answer, if it looks like one of Amazon's codes."""
    try:
        parsed = bounded.loads(raw, max_bytes=MAX_ANSWER_BYTES) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None
    payload = parsed.get("payload") if isinstance(parsed, dict) else None
    code = payload.get("code") if isinstance(payload, dict) else None
    return code if isinstance(code, str) and _AMAZON_CODE.match(code) else None
