"""The user's profile row: consent, policy version, activity. Round trips are on each function."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from models.base import ensure_bound
from models.items import (
    AccountProfile,
)
from models.table import (
    fenced_write,
    get_item,
    guard,
    update_item,
    utcnow,
)


def get_profile(user_key: str) -> AccountProfile | None:
    """The user's profile, or None. Round trips: 1 GetItem (consistent)."""
    return get_item(AccountProfile, user_key, AccountProfile.sort_key())


def put_profile(
    user_key: str,
    *,
    consented_at: datetime,
    accepted_policy_version: str,
    linked_at: datetime | None = None,
    last_active_at: datetime | None = None,
    consent_withdrawn_at: datetime | None = None,
) -> AccountProfile:
    """Create or replace the user's profile (fenced). Round trips: 1 TransactWriteItems.

    A replacement must carry over ``consent_withdrawn_at``: the row is written whole."""
    profile = AccountProfile(
        user_key,
        AccountProfile.sort_key(),
        consented_at=consented_at,
        accepted_policy_version=accepted_policy_version,
        linked_at=linked_at,
        last_active_at=last_active_at or consented_at,
        consent_withdrawn_at=consent_withdrawn_at,
    )
    with guard("put_profile"):
        ensure_bound()
        fenced_write("put_profile", user_key, puts=[profile.get_save_kwargs_from_instance()])
    return profile


def touch_profile(user_key: str, *, now: datetime | None = None) -> bool:
    """Record activity (for inactivity erasure); False without a profile. Round trips: 1 UpdateItem."""
    actions = [AccountProfile.last_active_at.set(now or utcnow())]
    return (
        update_item(AccountProfile, user_key, AccountProfile.sort_key(), actions, AccountProfile.pk.exists())
        is not None
    )


def set_consent_withdrawn(user_key: str, withdrawn_at: datetime | None) -> bool:
    """Record ACCloud's consent withdrawal (a time) or consent given again (None) on the profile;
    False without a profile. Round trips: 1 UpdateItem (conditional on the profile existing)."""
    actions = [
        AccountProfile.consent_withdrawn_at.set(withdrawn_at)
        if withdrawn_at is not None
        else AccountProfile.consent_withdrawn_at.remove()
    ]
    return (
        update_item(AccountProfile, user_key, AccountProfile.sort_key(), actions, AccountProfile.pk.exists())
        is not None
    )


def profile_upsert(user_key: str, policy_version: str, now: datetime) -> dict[str, Any]:
    """The profile's UpdateItem (transaction kwargs): create it as of ``now``, or record activity."""
    actions = [
        AccountProfile.consented_at.set(AccountProfile.consented_at | now),
        AccountProfile.accepted_policy_version.set(AccountProfile.accepted_policy_version | policy_version),
        AccountProfile.linked_at.set(AccountProfile.linked_at | now),
        AccountProfile.last_active_at.set(now),
    ]
    return cast(
        dict[str, Any],
        AccountProfile._get_connection().get_operation_kwargs(
            user_key, range_key=AccountProfile.sort_key(), actions=actions
        ),
    )
