"""The daily retention job's reads: the only Scans, off the request path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from models.base import ensure_bound
from models.items import (
    AccountLink,
    AccountProfile,
    EndpointEntry,
    kind_of,
)
from models.links import LinkRef
from models.table import (
    guard,
)
from skill.privacy import pseudonyms


@dataclass(frozen=True)
class RetentionCensus:
    """What the retention job finds beyond inactivity (``retention_census``)."""

    unidentified_links: tuple[LinkRef, ...]  # no Alexa user key, linked before the cutoff
    headless_partitions: tuple[str, ...]  # user partitions with neither a link nor a profile


def retention_census(linked_before: datetime) -> RetentionCensus:
    """One paginated Scan (keys, ``alexa_user_key`` and ``linked_at`` only) for the daily retention job.

    Finds links whose Alexa account was never identified and that were linked before
    ``linked_before``, and user partitions left without link and profile (an erasure cut short
    after its first batch; see ``erase_user``). Off the request path. Round trips: 1 Scan per 1 MB page.
    """
    unidentified: list[LinkRef] = []
    users: set[str] = set()
    headed: set[str] = set()
    with guard("retention_census"):
        ensure_bound()
        connection = AccountLink._get_connection()
        start_key: dict[str, Any] | None = None
        while True:
            answer = connection.scan(
                attributes_to_get=["pk", "sk", "alexa_user_key", "linked_at"],
                exclusive_start_key=cast(Any, start_key),  # pynamodb types it as str; it is the key map
            )
            for raw in answer.get("Items", []):
                pk, kind = raw["pk"]["S"], kind_of(raw["sk"]["S"])
                if kind not in (AccountLink, AccountProfile, EndpointEntry):
                    continue  # short-lived global rows (dedupe, fences)
                users.add(pk)
                if kind is AccountProfile:
                    headed.add(pk)
                elif kind is AccountLink:
                    headed.add(pk)
                    link = AccountLink.from_raw_data(raw)
                    if not pseudonyms.is_alexa_user_key(link.alexa_user_key) and (
                        link.linked_at is None or link.linked_at < linked_before
                    ):
                        unidentified.append(LinkRef(pk, link.link_key))
            start_key = answer.get("LastEvaluatedKey")
            if not start_key:
                break
    return RetentionCensus(tuple(unidentified), tuple(sorted(users - headed)))


def inactive_users(cutoff: datetime) -> Iterator[str]:
    """Partition keys of users whose last activity is older than ``cutoff``.

    For the daily retention job only: a paginated Scan of profile items (the one place a Scan
    is used; the job runs off the request path). Round trips: 1 Scan per 1 MB page.
    """
    with guard("inactive_users"):
        ensure_bound()
        condition = (AccountProfile.sk == AccountProfile.sort_key()) & (
            AccountProfile.last_active_at < cutoff
        )
        for profile in AccountProfile.scan(condition, attributes_to_get=["pk"]):
            yield profile.pk
