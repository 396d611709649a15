"""The ACCloud webhook: API Gateway HTTP API (payload 2.0) event in, HTTP answer out.

Checks run cheapest and least trusting first (shape, size, signature, JSON, dedupe claim), nothing is
stored before the signature holds, and a failure after the claim releases it when a redelivery can
help without ringing twice. The order and the release rule: docs/architecture.md, "The webhook".
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from skill import bounded, http, secrets
from skill.amazon.gateway import GatewayClient
from skill.cloud import webhook_events
from skill.cloud.signing import SIGNATURE_HEADER, SignatureInvalid, verify_signature
from skill.config import settings
from skill.privacy import pseudonyms
from skill.privacy.logs import log
from skill.proactive import events

_log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/accloud"
SIGNING_SECRET_KEY = "signing_secret"  # noqa: S105 - the key name, not a secret
DEDUPE_TTL_SECONDS = 24 * 3600  # longer than ACCloud keeps retrying
PROCESSING_BUDGET_SECONDS = 5.0  # the function times out at 8 s; ACCloud waits 10 s
RELEASE_RESERVE_SECONDS = 1.0  # kept after the budget to release the claim (one DeleteItem)
LAMBDA_MARGIN_SECONDS = 0.7


class _Answer(Exception):
    def __init__(self, status: int, word: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(word)
        self.status = status
        self.word = word
        self.headers = headers or {}


# The client used by handle(); tests and the local stack replace it (e.g. a sleep that does not wait).
client_factory: Callable[[], GatewayClient] = GatewayClient


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda answer for one API Gateway HTTP API event."""
    return respond(event, context)


def respond(
    event: dict[str, Any],
    context: Any = None,
    *,
    client: GatewayClient | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    client = client or client_factory()
    try:
        return _respond(event, context, client, time.time() if now is None else now)
    except _Answer as answer:
        return _http(answer.status, answer.word, answer.headers)


# --- internals ------------------------------------------------------------------------------


def _respond(event: dict[str, Any], context: Any, client: GatewayClient, now: float) -> dict[str, Any]:
    try:
        bounded.check(event)  # the Lambda event itself: headers, requestContext (the body is one string)
    except bounded.OutOfBounds as exc:
        log(_log, logging.WARNING, "webhook request rejected", reason=exc.reason)
        raise _Answer(400, "invalid_request") from None
    _check_route(event)
    s = settings()
    raw = _raw_body(event, s.webhook_max_body_bytes)
    deadline = client.deadline(_budget(context))
    with http.bounded_by(deadline):
        signature = _header(event, SIGNATURE_HEADER)
        tolerance = s.webhook_signature_tolerance_seconds
        answer, claimed = _checked_and_processed(raw, signature, client, deadline, now, tolerance)
    if claimed is not None:  # released outside the spent budget, inside the reserve kept for it
        with http.bounded_by(http.Deadline(RELEASE_RESERVE_SECONDS)):
            _release_claim(claimed)
    return answer


def _checked_and_processed(
    raw: bytes,
    signature: str | None,
    client: GatewayClient,
    deadline: http.Deadline,
    now: float,
    tolerance: int,
) -> tuple[dict[str, Any], str | None]:
    """The answer, and the id of an event whose claim must be released (None: keep it, or none taken)."""
    from models import store

    secret = _signing_secret()
    try:
        verify_signature(
            raw,
            signature,
            secret,
            now=now,
            tolerance=tolerance,
        )
    except SignatureInvalid as exc:
        log(_log, logging.WARNING, "webhook signature rejected", reason=exc.reason)
        raise _Answer(401, "invalid_signature") from None
    try:
        parsed = bounded.loads(raw, max_bytes=settings().webhook_max_body_bytes)
        # I-JSON (RFC 7493): a "\ud800" escape decodes to a lone surrogate, which is no text and
        # would fail later, when an Event Gateway message is encoded (a 500 and redeliveries forever).
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except bounded.OutOfBounds as exc:
        log(_log, logging.WARNING, "webhook body rejected", reason=exc.reason)
        raise _Answer(400, "invalid_json") from None
    except (ValueError, UnicodeError):
        raise _Answer(400, "invalid_json") from None
    try:
        accloud_event = webhook_events.parse(parsed)
    except webhook_events.EventRejected as exc:
        log(_log, logging.WARNING, "webhook event rejected", reason=str(exc))
        raise _Answer(400, "invalid_event") from None
    try:
        first_time = store.claim_event(accloud_event.id, DEDUPE_TTL_SECONDS)
    except store.StoreUnavailable as exc:
        log(_log, logging.ERROR, "could not claim webhook event", reason=str(exc))
        # A timeout or cut answer leaves the claim's fate unknown: it may be stored. Released (best
        # effort), or the redelivery would be answered "duplicate" and the event lost.
        return _http(503, "unavailable"), accloud_event.id
    if not first_time:
        log(_log, logging.INFO, "duplicate webhook delivery acknowledged", event_type=accloud_event.type)
        return _http(200, "duplicate"), None
    try:
        result = events.process(accloud_event, client=client, deadline=deadline)
    except Exception as exc:
        _log.error(
            "webhook event failed; redelivery requested",
            exc_info=True,
            extra={"fields": {"event_type": accloud_event.type}},
        )
        status = 503 if isinstance(exc, store.StoreUnavailable | secrets.SecretUnavailable) else 500
        return _http(status, "retry_later"), accloud_event.id
    if result.worth_redelivery:
        log(_log, logging.WARNING, "no link reached; redelivery requested", event_type=accloud_event.type)
        return _http(503, "retry_later"), accloud_event.id
    log(
        _log,
        logging.INFO,
        "webhook event processed",
        event_type=accloud_event.type,
        action=result.action,
        delivered=result.delivered,
        links=len(result.deliveries),
        user=pseudonyms.log_key(pseudonyms.user_key(accloud_event.user_id)),
    )
    return _http(202, "accepted"), None


def _check_route(event: dict[str, Any]) -> None:
    request_context = event.get("requestContext") or {}
    http = (request_context.get("http") or {}) if isinstance(request_context, dict) else None
    if not isinstance(http, dict):  # API Gateway always sends objects here
        raise _Answer(400, "invalid_request")
    method = str(http.get("method") or event.get("httpMethod") or "").upper()
    route_key = event.get("routeKey")
    if isinstance(route_key, str) and " " in route_key:
        path = route_key.split(" ", 1)[1]
    else:
        path = str(event.get("rawPath") or http.get("path") or event.get("path") or "")
    if path != WEBHOOK_PATH:
        raise _Answer(404, "not_found")
    if method != "POST":
        raise _Answer(405, "method_not_allowed", {"allow": "POST"})


def _raw_body(event: dict[str, Any], limit: int) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise _Answer(400, "invalid_body")
    if event.get("isBase64Encoded"):
        if len(body) > 4 * ((limit + 2) // 3):  # longer than any encoding of `limit` bytes
            raise _Answer(413, "too_large")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _Answer(400, "invalid_body") from None
    else:
        if len(body) > limit:  # every character is at least one byte
            raise _Answer(413, "too_large")
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > limit:
        raise _Answer(413, "too_large")
    return raw


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():  # payload 2.0 lowercases names; do not rely on it
        if isinstance(key, str) and key.lower() == name:
            return value if isinstance(value, str) else None
    return None


def _signing_secret() -> bytes:
    try:
        value = secrets.get(settings().webhook_secret_id).get(SIGNING_SECRET_KEY)
    except secrets.SecretUnavailable as exc:
        log(_log, logging.ERROR, "webhook signing secret unavailable", reason=str(exc))
        raise _Answer(503, "unavailable") from None
    if not isinstance(value, str) or not value:
        log(_log, logging.ERROR, "webhook signing secret malformed")
        raise _Answer(503, "unavailable")
    return value.encode("utf-8")


def _budget(context: Any) -> float:
    budget = PROCESSING_BUDGET_SECONDS
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget = min(budget, remaining_ms() / 1000.0 - LAMBDA_MARGIN_SECONDS - RELEASE_RESERVE_SECONDS)
    return max(budget, 0.0)


def _release_claim(event_id: str) -> None:
    """Forget the claim on ``event_id`` so ACCloud's redelivery is processed."""
    from models import store

    try:
        store.release_event(event_id)
    except store.StoreUnavailable as exc:  # the claim then expires by TTL; the redelivery is a "duplicate"
        log(_log, logging.ERROR, "could not release webhook claim", reason=str(exc))


def _http(status: int, word: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    key = "status" if status < 400 else "error"
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps({key: word}),
    }
