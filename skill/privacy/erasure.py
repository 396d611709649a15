"""The one erasure code path: every trigger that deletes user data comes through here.

One path means one place that fences, reports to Alexa first and logs the erasure record. Scopes,
unidentified links and ``notify_alexa``: docs/architecture.md, "The erasure path"; the triggers:
docs/privacy.md, V.2."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, TypeVar

from models import store
from models.store import LinkRef
from skill import http
from skill.privacy import pseudonyms
from skill.privacy.logs import log

if TYPE_CHECKING:
    from models.items import AccountLink

_log = logging.getLogger(__name__)

Notifier = Callable[..., object]  # (user_key[, only_links=frozenset of link keys])
Scope = Literal["account", "link", "grant"]
T = TypeVar("T")


class Trigger(StrEnum):
    """Why data is erased; logged with every erasure record."""

    SKILL_DISABLED = "skill_disabled"
    GATEWAY_SKILL_DISABLED = "gateway_skill_disabled"
    LWA_INVALID_GRANT = "lwa_invalid_grant"
    ACCLOUD_ACCOUNT_DELETED = "accloud_account_deleted"
    VOICE_DELETE_REQUEST = "voice_delete_request"
    OPERATOR_CLI = "operator_cli"
    INACTIVITY = "inactivity"
    # The "Send Alexa Events" permission was withdrawn: skill event or gateway 403 (grant only).
    PERMISSION_WITHDRAWN = "permission_withdrawn"
    # ACCloud account.consent_withdrawn (grants only).
    ACCLOUD_CONSENT_WITHDRAWN = "accloud_consent_withdrawn"
    # The same Alexa account linked again: its earlier link rows are obsolete.
    ACCOUNT_RELINKED = "account_relinked"
    # A link no Alexa account was ever identified for, past its grace period (retention job).
    UNIDENTIFIED_LINK = "unidentified_link"
    # What an erasure cut short left (no link, no profile), finished by the retention job.
    UNFINISHED_ERASURE = "unfinished_erasure"


# After these the skill stays enabled for the user, so a DeleteReport must go out first.
SKILL_STAYS_ENABLED = frozenset(
    {
        Trigger.VOICE_DELETE_REQUEST,
        Trigger.OPERATOR_CLI,
        Trigger.ACCLOUD_ACCOUNT_DELETED,
        Trigger.UNIDENTIFIED_LINK,
    }
)


@dataclass(frozen=True)
class ErasureRecord:
    """What one erasure did; ``user`` is the pseudonymous log key, never the partition key."""

    user: str
    trigger: Trigger
    scope: Scope
    items: int
    erased_at: datetime
    delete_report: bool | None  # None: no sender given; False: the sender failed
    # Identified links of other Alexa accounts that keep the partition (scope "link"); not logged.
    links_staying: int = 0

    def fields(self) -> dict[str, object]:
        """What the erasure record says (logged, and printed by the operator CLI)."""
        return {
            "user": self.user,
            "trigger": str(self.trigger),
            "scope": self.scope,
            "items": self.items,
            "erased_at": self.erased_at.isoformat().replace("+00:00", "Z"),
            "delete_report": self.delete_report,
        }


def needs_delete_report(trigger: Trigger) -> bool:
    return trigger in SKILL_STAYS_ENABLED


def is_identified(link: AccountLink) -> bool:
    """Whether the link names the Alexa account it belongs to (so that account can erase it)."""
    return pseudonyms.is_alexa_user_key(link.alexa_user_key)


def erase_account(
    user_key: str,
    trigger: Trigger,
    *,
    notify_alexa: Notifier | None = None,
    report_only: frozenset[str] | None = None,
) -> ErasureRecord:
    """Erase the user's whole partition (profile, links with grants, endpoints, sessions).

    The fence goes up first: from then on requests already in flight for the user store nothing.
    ``report_only`` limits the DeleteReport to those links (empty: none). Raises
    ``store.StoreUnavailable`` if the fence or the deletion fails (the trigger is retried).
    """
    started = store.begin_erasure(user_key)
    reported = _notify(user_key, trigger, notify_alexa, report_only)
    deleted = store.erase_user(user_key)
    _complete_fence(user_key, started, trigger)
    return _record(user_key, trigger, "account", deleted, reported)


def erase_alexa_link(
    user_key: str, link_key: str, trigger: Trigger, *, notify_alexa: Notifier | None = None
) -> ErasureRecord:
    """Erase one Alexa account's link; the whole partition if it was the user's last link."""
    return _erase_links(user_key, {link_key}, trigger, notify_alexa)


def erase_alexa_user(
    alexa_user_key: str,
    trigger: Trigger,
    *,
    also: Iterable[LinkRef] = (),
    notify_alexa: Notifier | None = None,
) -> list[ErasureRecord]:
    """Erase every link recorded for an Alexa user (found through the GSI) plus ``also``.

    ``also`` adds links known another way (e.g. from the request's access token) that the
    eventually consistent index may not show yet. One record per affected user partition.
    """
    refs = set(store.find_links_by_alexa_user(alexa_user_key)) | set(also)
    return erase_links(refs, trigger, notify_alexa=notify_alexa)


def erase_links(
    refs: Iterable[LinkRef], trigger: Trigger, *, notify_alexa: Notifier | None = None
) -> list[ErasureRecord]:
    """Erase these links, grouped per user partition (each partition goes with its last link)."""
    by_user: dict[str, set[str]] = {}
    for ref in refs:
        by_user.setdefault(ref.user_key, set()).add(ref.link_key)
    return [
        _erase_links(user_key, link_keys, trigger, notify_alexa)
        for user_key, link_keys in sorted(by_user.items())
    ]


def erase_unidentified_link(
    ref: LinkRef, *, linked_before: datetime, notify_alexa: Notifier | None = None
) -> ErasureRecord:
    """Erase a link no Alexa account was identified for (retention job), after a DeleteReport through
    its grant; the partition too when no identified link, nor an unidentified one linked after
    ``linked_before`` (still in its grace period), remains."""
    return _erase_links(
        ref.user_key,
        {ref.link_key},
        Trigger.UNIDENTIFIED_LINK,
        notify_alexa,
        spare_unidentified_since=linked_before,
    )


def erase_grant(
    user_key: str,
    link_key: str,
    trigger: Trigger,
    *,
    stop_events: bool = True,
    lease_owner: str | None = None,
) -> ErasureRecord:
    """Delete only the LWA grant of one link (the link and the rest of the partition stay).

    ``stop_events`` also records that the link no longer permits events (a withdrawn permission
    or consent); ``lease_owner`` deletes only while that refresher holds the refresh lease
    (skill.amazon.grants on LWA ``invalid_grant``).
    """
    link = store.get_link(user_key, link_key)  # to count honestly: clearing an absent grant also "succeeds"
    cleared = store.clear_grant(user_key, link_key, lease_owner=lease_owner)
    if stop_events and (cleared or lease_owner is None):
        # Not after a lost lease race: then a newer grant (with its permission) replaced ours.
        store.set_events_permitted(user_key, link_key, False)
    had_grant = link is not None and link.has_grant
    return _record(user_key, trigger, "grant", 1 if cleared and had_grant else 0, None)


def within(seconds: float, erase: Callable[[], T]) -> T | None:
    """Run ``erase`` for at most ``seconds``: its result, or None if it is still running.

    An erasure that outlasts the caller's deadline (a voice answer must go within 8 s) is not
    abandoned: it goes on in its thread after the answer, in the same container (Lambda resumes
    it with the container's next invocation). If it is cut off after its first batch (links and
    profile), the retention job finishes the partition (``store.retention_census``).
    """
    outcome: list[T] = []
    failure: list[BaseException] = []
    abandoned: list[bool] = []  # the caller stopped waiting
    finished = threading.Condition()

    def work() -> None:
        try:
            with http.unbounded():  # the request's deadline ends with its answer, the erasure does not
                result = erase()
        except BaseException as exc:  # handed to the caller, or logged once nobody waits any more
            with finished:
                failure.append(exc)
                finished.notify()
                if abandoned:
                    error = type(exc).__name__
                    log(_log, logging.WARNING, "erasure after the answer failed", error_code=error)
            return
        with finished:
            outcome.append(result)
            finished.notify()

    context = contextvars.copy_context()  # the request's start (the fence) and log context go along
    threading.Thread(target=context.run, args=(work,), name="erasure", daemon=True).start()
    with finished:
        if not finished.wait_for(lambda: outcome or failure, timeout=max(0.0, seconds)):
            abandoned.append(True)
            log(_log, logging.WARNING, "erasure outlasts the deadline; it goes on after the answer")
            return None
        if failure:
            raise failure[0]
        return outcome[0]


# --- internals ------------------------------------------------------------------------------


def _erase_links(
    user_key: str,
    link_keys: set[str],
    trigger: Trigger,
    notify_alexa: Notifier | None,
    *,
    spare_unidentified_since: datetime | None = None,
) -> ErasureRecord:
    """``spare_unidentified_since``: unidentified links linked after it also keep the partition
    (the retention job erases an expired unidentified link, not a newer one still in its grace)."""
    others = [link for link in store.links_of(user_key) if link.link_key not in link_keys]
    staying = [
        link
        for link in others
        if is_identified(link)
        or (spare_unidentified_since is not None and link.linked_at > spare_unidentified_since)
    ]
    if not staying:
        # No other identified Alexa account uses this ZOSI account: nothing of the user may stay,
        # unidentified links included (no one could ever erase them per link).
        along = frozenset(link.link_key for link in others)
        return erase_account(
            user_key,
            trigger,
            notify_alexa=notify_alexa,
            report_only=None if needs_delete_report(trigger) else along,
        )
    # Other Alexa accounts stay linked and keep their endpoints; only these links (with their grants) go.
    # No fence here: it guards a whole partition, and the links that stay must keep working (a
    # relink erases the Alexa account's old link while AcceptGrant for the new one is in flight).
    only_these = frozenset(link_keys)
    reported = _notify(user_key, trigger, notify_alexa, only_these) if needs_delete_report(trigger) else None
    deleted = sum(1 for link_key in sorted(link_keys) if store.delete_link(user_key, link_key))
    identified_staying = sum(1 for link in staying if is_identified(link))
    return _record(user_key, trigger, "link", deleted, reported, links_staying=identified_staying)


def _complete_fence(user_key: str, started: datetime, trigger: Trigger) -> None:
    try:
        store.complete_erasure(user_key, started)
    except store.StoreUnavailable as exc:
        # Everything is deleted: the erasure stands. The fence just keeps refusing the user's writes
        # until it expires (models.fence.FENCE_LIFETIME after it went up), and then lets them through.
        log(
            _log,
            logging.WARNING,
            "erasure fence not completed; it expires on its own",
            user=pseudonyms.log_key(user_key),
            trigger=str(trigger),
            error_code=type(exc).__name__,
        )


def _notify(
    user_key: str, trigger: Trigger, notify_alexa: Notifier | None, only_links: frozenset[str] | None = None
) -> bool | None:
    if notify_alexa is None:
        if needs_delete_report(trigger):
            log(_log, logging.WARNING, "erasure without DeleteReport sender", trigger=str(trigger))
        return None
    if only_links is not None and not only_links:
        return None
    try:
        sent = notify_alexa(user_key) if only_links is None else notify_alexa(user_key, only_links=only_links)
    except Exception as exc:  # the report is a courtesy to Alexa; the erasure is the user's right
        log(
            _log,
            logging.WARNING,
            "DeleteReport before erasure failed; erasing anyway",
            user=pseudonyms.log_key(user_key),
            trigger=str(trigger),
            error_code=type(exc).__name__,
        )
        return False
    if sent is not None and not sent:
        return None  # nothing went out: no Alexa account took events for this user
    return True


def _record(
    user_key: str,
    trigger: Trigger,
    scope: Scope,
    items: int,
    reported: bool | None,
    *,
    links_staying: int = 0,
) -> ErasureRecord:
    record = ErasureRecord(
        user=pseudonyms.log_key(user_key),
        trigger=trigger,
        scope=scope,
        items=items,
        erased_at=datetime.now(UTC),
        delete_report=reported,
        links_staying=links_staying,
    )
    log(_log, logging.INFO, "erasure", **record.fields())
    return record
