"""Short-lived webhook deduplication rows (keyed hashes of ACCloud event ids, TTL-expired)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import PynamoDBException

from models.base import ensure_bound
from models.items import (
    WebhookDedupe,
)
from models.table import (
    CONDITION_FAILED,
    aws_code,
    guard,
    keyed_hash,
    utcnow,
)


def claim_event(event_id: str, ttl_seconds: int, *, now: datetime | None = None) -> bool:
    """Atomically claim a webhook event id; False if it was already claimed and not yet expired.

    A row whose TTL passed counts as free even if DynamoDB has not deleted it yet.
    Round trips: 1 PutItem (conditional).
    """
    now = now or utcnow()
    row = WebhookDedupe(
        _dedupe_key(event_id),
        "dedupe",
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    with guard("claim_event"):
        ensure_bound()
        try:
            row.save(condition=WebhookDedupe.pk.does_not_exist() | (WebhookDedupe.expires_at <= now))
        except PynamoDBException as exc:
            if aws_code(exc) == CONDITION_FAILED:
                return False
            raise
    return True


def release_event(event_id: str) -> None:
    """Forget the claim on ``event_id`` so a redelivery is processed. Round trips: 1 DeleteItem."""
    with guard("release_event"):
        ensure_bound()
        WebhookDedupe(_dedupe_key(event_id), "dedupe").delete()


def _dedupe_key(event_id: str) -> str:
    return WebhookDedupe.partition_key(keyed_hash(b"webhook-event", event_id))
