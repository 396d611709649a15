"""The endpoint index: what the skill last reported to Alexa for each endpoint (written here; the
fast read for discovery is ``models.endpoint_index``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from models.base import ensure_bound
from models.items import (
    EndpointEntry,
)
from models.table import (
    FENCED_WRITES_PER_TRANSACTION,
    fenced_write,
    guard,
)


@dataclass(frozen=True)
class EndpointRecord:
    """What the skill last reported to Alexa for one endpoint."""

    categories: tuple[str, ...]
    capability_digest: str
    # The interfaces reported (events go only where Alexa was told of theirs); None: not recorded.
    interfaces: tuple[str, ...] | None = None


def record_of(entry: EndpointEntry) -> EndpointRecord:
    interfaces = cast(list[str] | None, entry.interfaces)
    return EndpointRecord(
        tuple(cast(list[str], entry.categories or [])),
        entry.capability_digest,
        None if interfaces is None else tuple(interfaces),
    )


def endpoint_index(user_key: str) -> dict[str, EndpointRecord]:
    """endpointId -> what was last reported to Alexa. Round trips: 1 Query (consistent; +1 per 1 MB page)."""
    with guard("endpoint_index"):
        ensure_bound()
        entries = EndpointEntry.query(
            user_key, EndpointEntry.sk.startswith(EndpointEntry.sort_key("")), consistent_read=True
        )
        return {e.endpoint_id: record_of(e) for e in entries}


def apply_endpoint_diff(
    user_key: str, *, upserts: Mapping[str, EndpointRecord], removals: Iterable[str] = ()
) -> int:
    """Write added/changed endpoints and delete removed ones; returns the number of item writes.

    With upserts the writes are fenced, in chunks of 99 (each chunk is atomic, the diff is not):
    ceil(writes / 99) TransactWriteItems. Removals alone cannot bring anything back, so they go
    unfenced: ceil(removals / 25) BatchWriteItem (plus retries of unprocessed items).
    """
    removed = [endpoint for endpoint in removals if endpoint not in upserts]
    with guard("apply_endpoint_diff"):
        ensure_bound()
        if not upserts:
            with EndpointEntry.batch_write() as batch:
                for endpoint in removed:
                    batch.delete(EndpointEntry(user_key, EndpointEntry.sort_key(endpoint)))
            return len(removed)
        writes = [
            (
                "put",
                EndpointEntry(
                    user_key,
                    EndpointEntry.sort_key(endpoint),
                    categories=list(record.categories),
                    capability_digest=record.capability_digest,
                    interfaces=None if record.interfaces is None else list(record.interfaces),
                ).get_save_kwargs_from_instance(),
            )
            for endpoint, record in upserts.items()
        ] + [
            (
                "delete",
                EndpointEntry(user_key, EndpointEntry.sort_key(endpoint)).get_delete_kwargs_from_instance(),
            )
            for endpoint in removed
        ]
        for start in range(0, len(writes), FENCED_WRITES_PER_TRANSACTION):
            chunk = writes[start : start + FENCED_WRITES_PER_TRANSACTION]
            fenced_write(
                "apply_endpoint_diff",
                user_key,
                puts=[kwargs for kind, kwargs in chunk if kind == "put"],
                deletes=[kwargs for kind, kwargs in chunk if kind == "delete"],
            )
    return len(writes)
