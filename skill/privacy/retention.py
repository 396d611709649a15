"""The daily retention job: erase accounts with no activity for ``ZOSI_INACTIVITY_ERASE_DAYS``.

Activity is recorded on the profile by linking (AcceptGrant, the first SkillAccountLinked),
opening the skill by voice, and ACCloud webhook deliveries for the user's devices (at most once
a day). Stream directives deliberately write nothing, so no DeleteReport is sent: live view
needs no stored data and keeps working for an erased account; only proactive events stop
until the user links again (docs/privacy.md, "Inactive accounts").

Expired short-lived rows need no job: DynamoDB's TTL removes them and every read ignores them
once expired.

Runs from the scheduled rule in template.yaml through ``lambda_handler.retention``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from skill.config import settings
from skill.privacy.logs import log

_log = logging.getLogger(__name__)


def run(event: Any = None, context: Any = None, *, now: datetime | None = None) -> dict[str, int]:
    from models import store
    from skill.privacy import erasure

    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings().inactivity_erase_days)
    erased = items = failed = 0
    for user_key in list(store.inactive_users(cutoff)):
        try:
            record = erasure.erase_account(user_key, erasure.Trigger.INACTIVITY)
        except store.StoreUnavailable as exc:
            failed += 1
            log(
                _log,
                logging.WARNING,
                "inactive account not erased",
                error_code=str(exc).split(":")[-1].strip(),
            )
            continue
        erased += 1
        items += record.items
    log(_log, logging.INFO, "retention job done", accounts_erased=erased, items_erased=items, failures=failed)
    return {"accounts_erased": erased, "items_erased": items, "failures": failed}
