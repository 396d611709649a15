"""The daily retention job: erase accounts with no activity for ``ZOSI_INACTIVITY_ERASE_DAYS``.

Activity is recorded on the profile by everything that involves the user beyond a live view:
linking (AcceptGrant, SkillAccountLinked), voice requests, and ACCloud webhook deliveries for
their devices (doorbell presses, motion, device changes). Stream directives deliberately write
nothing. Expired short-lived rows need no job: DynamoDB's TTL removes them and every read
ignores them once expired.

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
    from skill.proactive.events import send_delete_report

    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings().inactivity_erase_days)
    erased = items = failed = 0
    for user_key in list(store.inactive_users(cutoff)):
        try:
            # Alexa still shows the cameras while the skill stays enabled: tell it they are gone.
            record = erasure.erase_account(
                user_key, erasure.Trigger.INACTIVITY, notify_alexa=send_delete_report
            )
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
