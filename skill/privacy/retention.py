"""The daily retention job: what no request will ever erase, it does.

Inactive accounts, unidentified links past their grace period and partitions an erasure left
headless (docs/privacy.md, "Retention" and V.2). Runs from the scheduled rule in template.yaml
through ``lambda_handler.retention``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from skill.config import settings
from skill.privacy.logs import log

_log = logging.getLogger(__name__)


def run(event: Any = None, context: Any = None, *, now: datetime | None = None) -> dict[str, int]:
    from models import store
    from skill.amazon.delete_report import send_delete_report
    from skill.privacy import erasure

    now = now or datetime.now(UTC)
    config = settings()
    grace_cutoff = now - timedelta(hours=config.unidentified_link_grace_hours)
    counts = {"accounts_erased": 0, "unidentified_links_erased": 0, "items_erased": 0, "failures": 0}

    def attempt(what: str, erase: Callable[[], erasure.ErasureRecord]) -> None:
        try:
            record = erase()
        except store.StoreUnavailable as exc:
            counts["failures"] += 1
            log(_log, logging.WARNING, f"{what} not erased", error_code=str(exc).split(":")[-1].strip())
            return
        counts["accounts_erased"] += record.scope == "account"
        counts["unidentified_links_erased"] += what == "unidentified link"
        counts["items_erased"] += record.items

    for user_key in list(store.inactive_users(now - timedelta(days=config.inactivity_erase_days))):
        attempt("inactive account", partial(erasure.erase_account, user_key, erasure.Trigger.INACTIVITY))
    census = store.retention_census(grace_cutoff)
    for ref in census.unidentified_links:
        erase = partial(
            erasure.erase_unidentified_link, ref, linked_before=grace_cutoff, notify_alexa=send_delete_report
        )
        attempt("unidentified link", erase)
    for user_key in census.headless_partitions:
        erase = partial(erasure.erase_account, user_key, erasure.Trigger.UNFINISHED_ERASURE)
        attempt("unfinished erasure", erase)
    log(_log, logging.INFO, "retention job done", **counts)
    return counts
