"""The right of access: everything stored about a user, and a short summary the voice model speaks.

Both read the user's partition with one Query (``models.store.export_user``). Secrets never
leave: ciphertexts are already masked by the store, and anything named like a secret is masked
again here in case a future item kind stores one as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from models import store

EXPORT_FORMAT = "zosi-smart-export/1"
MASKED = "<masked>"
# Attribute names whose values are secret whatever their type.
_SECRET_ATTRIBUTES = frozenset({"grant_ciphertext"})


def export(user_key: str) -> dict[str, Any]:
    """Everything stored for ``user_key`` as JSON-ready data (what the operator CLI prints)."""
    items = [_masked(item) for item in store.export_user(user_key)]
    return {
        "format": EXPORT_FORMAT,
        "user_key": user_key,
        "exported_at": _iso(datetime.now(UTC)),
        "summary": _summarize(items),
        "items": items,
    }


def summary(user_key: str) -> dict[str, Any]:
    """Counts of what is stored: links, endpoints, whether an LWA grant is kept, policy version, consent."""
    return _summarize(store.export_user(user_key))


def _summarize(items: list[dict[str, Any]]) -> dict[str, Any]:
    links = [item for item in items if item.get("kind") == "AccountLink"]
    profile = next((item for item in items if item.get("kind") == "AccountProfile"), None)
    return {
        "stored": bool(items),
        "items": len(items),
        "links": len(links),
        "endpoints": sum(1 for item in items if item.get("kind") == "EndpointEntry"),
        "grant": any(item.get("grant_ciphertext") is not None for item in links),
        "events_permitted": any(item.get("events_permitted") is True for item in links),
        "accepted_policy_version": profile.get("accepted_policy_version") if profile else None,
        "consented_at": profile.get("consented_at") if profile else None,
    }


def _masked(item: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (MASKED if key in _SECRET_ATTRIBUTES and not _already_masked(value) else value)
        for key, value in item.items()
    }


def _already_masked(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<encrypted ")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
