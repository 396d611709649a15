"""Account links and the LWA grant and refresh lease stored on them (used by ``skill.amazon.grants``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PynamoDBException

from models.base import ensure_bound
from models.items import (
    AccountLink,
)
from models.profiles import profile_upsert
from models.table import (
    CONDITION_FAILED,
    aws_code,
    fenced_write,
    get_item,
    guard,
    update_item,
    utcnow,
)


@dataclass(frozen=True)
class LinkRef:
    """Keys of an account link found through the Alexa-user index."""

    user_key: str
    link_key: str


def upsert_link(
    user_key: str,
    link_key: str,
    *,
    region: str,
    alexa_user_key: str | None = None,
    linked_at: datetime | None = None,
) -> None:
    """Create the link or update region (and the Alexa user key when given); keeps any grant.

    ``linked_at`` is only set when the link is new. Fenced. Round trips: 1 TransactWriteItems.
    """
    actions = [
        AccountLink.region.set(region),
        AccountLink.linked_at.set(AccountLink.linked_at | (linked_at or utcnow())),
        AccountLink.events_permitted.set(AccountLink.events_permitted | False),
    ]
    if alexa_user_key is not None:
        actions.append(AccountLink.alexa_user_key.set(alexa_user_key))
    _fenced_link_update(user_key, link_key, actions, op="upsert_link")


def set_events_permitted(user_key: str, link_key: str, permitted: bool) -> bool:
    """Record the 'Send Alexa Events' permission of an existing link. Round trips: 1 UpdateItem."""
    actions = [AccountLink.events_permitted.set(permitted)]
    return (
        _update_link(user_key, link_key, actions, AccountLink.pk.exists(), op="set_events_permitted")
        is not None
    )


def get_link(user_key: str, link_key: str) -> AccountLink | None:
    """One link, or None. Round trips: 1 GetItem (consistent)."""
    return get_item(AccountLink, user_key, AccountLink.sort_key(link_key))


def links_of(user_key: str) -> list[AccountLink]:
    """All links of a user. Round trips: 1 Query (consistent; one more per 1 MB page)."""
    with guard("links_of"):
        ensure_bound()
        return list(
            AccountLink.query(
                user_key, AccountLink.sk.startswith(AccountLink.sort_key("")), consistent_read=True
            )
        )


def find_links_by_alexa_user(alexa_user_key: str) -> list[LinkRef]:
    """Links recorded for an Alexa user (GSI, eventually consistent). Round trips: 1 Query."""
    with guard("find_links_by_alexa_user"):
        ensure_bound()
        return [LinkRef(hit.pk, hit.link_key) for hit in AccountLink.by_alexa_user.query(alexa_user_key)]


def delete_link(user_key: str, link_key: str) -> bool:
    """Delete one link (and with it its grant); False if there was none. Round trips: 1 DeleteItem."""
    link = AccountLink(user_key, AccountLink.sort_key(link_key))
    with guard("delete_link"):
        ensure_bound()
        try:
            link.delete(condition=AccountLink.pk.exists(), add_version_condition=False)
        except PynamoDBException as exc:
            if aws_code(exc) == CONDITION_FAILED:
                return False
            raise
    return True


def save_grant(
    user_key: str,
    link_key: str,
    *,
    region: str,
    ciphertext: bytes,
    expires_at: datetime,
    policy_version: str | None = None,
    now: datetime | None = None,
) -> None:
    """Store a new grant (AcceptGrant), creating the link if needed; cancels any refresh in flight.

    With ``policy_version`` the same transaction creates the user's profile (consent and link
    time now, that policy version accepted) or, if it exists, only records activity: the grant
    and the profile are stored together or not at all, so a grant never lives in a partition the
    retention job cannot see. Fenced. Round trips: 1 TransactWriteItems.
    """
    now = now or utcnow()
    actions = [
        AccountLink.region.set(region),
        AccountLink.linked_at.set(AccountLink.linked_at | now),
        AccountLink.events_permitted.set(True),
        AccountLink.grant_ciphertext.set(ciphertext),
        AccountLink.grant_expires_at.set(expires_at),
        AccountLink.refresh_lease_owner.remove(),
        AccountLink.refresh_lease_until.remove(),
    ]
    with guard("save_grant"):
        ensure_bound()  # before the profile's operation kwargs are built
        profile = [] if policy_version is None else [profile_upsert(user_key, policy_version, now)]
    _fenced_link_update(user_key, link_key, actions, op="save_grant", also=profile)


def clear_grant(user_key: str, link_key: str, *, lease_owner: str | None = None) -> bool:
    """Remove the grant but keep the link. With ``lease_owner``, only while that refresher holds the lease.

    Returns False if the link is gone (or the lease moved on). Round trips: 1 UpdateItem.
    """
    actions = [
        AccountLink.grant_ciphertext.remove(),
        AccountLink.grant_expires_at.remove(),
        AccountLink.refresh_lease_owner.remove(),
        AccountLink.refresh_lease_until.remove(),
    ]
    condition = (
        AccountLink.pk.exists() if lease_owner is None else AccountLink.refresh_lease_owner == lease_owner
    )
    return _update_link(user_key, link_key, actions, condition, op="clear_grant") is not None


def acquire_refresh_lease(link: AccountLink, *, owner: str, until: datetime) -> AccountLink | None:
    """Take the refresh lease if the row is unchanged since ``link`` was read (optimistic lock on version).

    The caller has checked that ``link`` shows no live lease. None if another writer got there
    first: re-read and decide again. Round trips: 1 UpdateItem.
    """
    actions = [AccountLink.refresh_lease_owner.set(owner), AccountLink.refresh_lease_until.set(until)]
    condition = AccountLink.version == link.version
    return _update_link(link.pk, link.link_key, actions, condition, op="acquire_refresh_lease")


def finish_refresh(
    user_key: str, link_key: str, *, owner: str, ciphertext: bytes, expires_at: datetime
) -> AccountLink | None:
    """Store refreshed tokens and release the lease, only if ``owner`` still holds it.

    None means the grant was replaced or deleted meanwhile: the refreshed tokens must be dropped.
    Round trips: 1 UpdateItem.
    """
    actions = [
        AccountLink.grant_ciphertext.set(ciphertext),
        AccountLink.grant_expires_at.set(expires_at),
        AccountLink.refresh_lease_owner.remove(),
        AccountLink.refresh_lease_until.remove(),
    ]
    condition = AccountLink.refresh_lease_owner == owner
    return _update_link(user_key, link_key, actions, condition, op="finish_refresh")


def release_refresh_lease(user_key: str, link_key: str, *, owner: str) -> bool:
    """Give the lease back after a failed refresh (no-op if it moved on). Round trips: 1 UpdateItem."""
    actions = [AccountLink.refresh_lease_owner.remove(), AccountLink.refresh_lease_until.remove()]
    condition = AccountLink.refresh_lease_owner == owner
    return _update_link(user_key, link_key, actions, condition, op="release_refresh_lease") is not None


def _update_link(
    user_key: str, link_key: str, actions: list[Any], condition: Any, *, op: str
) -> AccountLink | None:
    # Every write of a link bumps its version (ADD creates it at 1), so a reader's version detects any change.
    raw = update_item(
        AccountLink,
        user_key,
        AccountLink.sort_key(link_key),
        [*actions, AccountLink.version.add(1)],
        condition,
    )
    return None if raw is None else AccountLink.from_raw_data(raw)


def _fenced_link_update(
    user_key: str, link_key: str, actions: list[Any], *, op: str, also: Sequence[dict[str, Any]] = ()
) -> None:
    """The link update (and the ``also`` updates of the same user) in one fenced transaction."""
    with guard(op):
        ensure_bound()
        update = AccountLink._get_connection().get_operation_kwargs(
            user_key,
            range_key=AccountLink.sort_key(link_key),
            actions=[*actions, AccountLink.version.add(1)],  # as _update_link: every write bumps it
        )
        fenced_write(op, user_key, updates=[update, *also])
