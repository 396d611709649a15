"""One Query over a user's partition for what discovery and account-wide events need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from models.base import ensure_bound
from models.endpoints import EndpointRecord, record_of
from models.items import (
    AccountLink,
    AccountProfile,
    EndpointEntry,
)
from models.table import (
    guard,
    partition_items,
)


@dataclass(frozen=True)
class AccountView:
    """What discovery and account-wide events need to know about a user, read in one Query."""

    links: tuple[AccountLink, ...]
    endpoints: Mapping[str, EndpointRecord]
    has_profile: bool
    last_active_at: datetime | None = None
    consent_withdrawn: bool = False  # ACCloud reported the user's consent withdrawn (policy V.3)


def account_view(user_key: str) -> AccountView:
    """Links, endpoint index and whether a profile exists. Round trips: 1 Query (consistent; +1 per 1 MB)."""
    links: list[AccountLink] = []
    endpoints: dict[str, EndpointRecord] = {}
    has_profile = False
    last_active_at = None
    consent_withdrawn = False
    with guard("account_view"):
        ensure_bound()
        for model, raw in partition_items(user_key):
            if model is AccountLink:
                links.append(AccountLink.from_raw_data(raw))
            elif model is EndpointEntry:
                entry = EndpointEntry.from_raw_data(raw)
                endpoints[entry.endpoint_id] = record_of(entry)
            elif model is AccountProfile:
                has_profile = True
                profile = AccountProfile.from_raw_data(raw)
                last_active_at = profile.last_active_at
                consent_withdrawn = profile.consent_withdrawn_at is not None
    return AccountView(tuple(links), endpoints, has_profile, last_active_at, consent_withdrawn)
