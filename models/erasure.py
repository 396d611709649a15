"""Erasure (the fence raised and completed around it, the partition deleted) and export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import PynamoDBException

from models.base import TableModel, ensure_bound
from models.fence import ERASED, ERASING, FENCE_LIFETIME
from models.items import (
    FENCE_SK,
    AccountLink,
    AccountProfile,
    ErasureFence,
    kind_of,
)
from models.table import (
    BATCH_WRITE_LIMIT,
    CONDITION_FAILED,
    aws_code,
    batch_delete,
    fence_key,
    guard,
    partition_items,
    partition_pages,
    retrying_conflicts,
    utcnow,
)


def begin_erasure(user_key: str, *, now: datetime | None = None) -> datetime:
    """Raise the user's erasure fence (state "erasing") before anything is deleted; its start time.

    Replaces any earlier fence of the user. From here on, fenced writes of requests that began
    before the erasure completes are refused (``models.fence``). Round trips: 1 PutItem.
    """
    started = now or utcnow()
    row = ErasureFence(
        fence_key(user_key),
        FENCE_SK,
        state=ERASING,
        started_at=started,
        expires_at=started + FENCE_LIFETIME,  # an erasure that never completes stops blocking then
    )
    with guard("begin_erasure"):
        ensure_bound()
        retrying_conflicts(row.save)
    return started


def complete_erasure(user_key: str, started_at: datetime, *, now: datetime | None = None) -> bool:
    """Mark the fence "erased" once everything is deleted: requests that begin later may store again.

    Only the erasure that raised the fence completes it (a later, overlapping one replaced it and
    completes it itself): False then. The fence expires ``FENCE_LIFETIME`` after completion.
    Round trips: 1 UpdateItem.
    """
    done = now or utcnow()
    actions = [
        ErasureFence.state.set(ERASED),
        ErasureFence.completed_at.set(done),
        ErasureFence.expires_at.set(done + FENCE_LIFETIME),
    ]
    condition = ErasureFence.started_at == started_at
    with guard("complete_erasure"):
        ensure_bound()
        connection = ErasureFence._get_connection()
        try:
            retrying_conflicts(
                lambda: connection.update_item(
                    fence_key(user_key), range_key=FENCE_SK, actions=actions, condition=condition
                )
            )
        except PynamoDBException as exc:
            if aws_code(exc) == CONDITION_FAILED:
                return False
            raise
    return True


def erase_user(user_key: str) -> int:
    """Delete every item in the user's partition; returns how many were deleted.

    Links (with their grants) and the profile go in the first batch: an erasure cut short after
    it leaves a partition without link or profile, which the retention job finishes
    (``retention_census``). Round trips: 1 Query per 1 MB page of keys (keys only, consistent),
    then ceil(items / 25) BatchWriteItem.
    """
    with guard("erase_user"):
        ensure_bound()
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for page in partition_pages(user_key, keys_only=True)
            for item in page
        ]
        keys.sort(key=lambda key: kind_of(key["sk"]["S"]) not in (AccountLink, AccountProfile))
        for start in range(0, len(keys), BATCH_WRITE_LIMIT):
            batch_delete(keys[start : start + BATCH_WRITE_LIMIT])
    return len(keys)


def export_user(user_key: str) -> list[dict[str, Any]]:
    """Everything stored for the user as plain JSON-ready dicts, ciphertexts masked.

    Each dict has ``kind`` (model name) and the stored attributes. Round trips: 1 Query per 1 MB page.
    """
    exported: list[dict[str, Any]] = []
    with guard("export_user"):
        ensure_bound()
        for model, raw in partition_items(user_key):
            if model is None:
                exported.append({"kind": "unknown", **{k: _plain_raw(v) for k, v in raw.items()}})
            else:
                exported.append({"kind": model.__name__, **_plain_item(model.from_raw_data(raw))})
    return exported


def _plain_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return f"<encrypted {len(value)} bytes>"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple | set):
        return [_plain_value(v) for v in value]
    return value


def _plain_item(item: TableModel) -> dict[str, Any]:
    values = {name: getattr(item, name) for name in item.get_attributes()}
    return {name: _plain_value(value) for name, value in sorted(values.items()) if value is not None}


def _plain_raw(value: dict[str, Any]) -> Any:
    """A DynamoDB-typed value of an unknown item kind, as plain JSON (binary masked)."""
    ((type_code, inner),) = value.items()
    if type_code in {"B", "BS"}:
        size = len(inner) if type_code == "B" else sum(len(b) for b in inner)
        return f"<encrypted {size} bytes>"
    if type_code == "L":
        return [_plain_raw(v) for v in inner]
    if type_code == "M":
        return {k: _plain_raw(v) for k, v in inner.items()}
    if type_code == "NULL":
        return None
    if type_code in {"SS", "NS"}:
        return sorted(inner)
    return inner
