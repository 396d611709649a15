"""Alexa Skill Events (``AlexaSkillEvent.*``): account linking, disabling, permission changes.

Handled on the raw event, before (and without loading) ask-sdk: they need no session or speech.
What each event stores or erases: docs/architecture.md, "Skill events"."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from models import store
from skill.cloud import contract
from skill.config import settings
from skill.privacy import erasure, pseudonyms
from skill.privacy.logs import log
from skill.voice import identity

_log = logging.getLogger(__name__)

PREFIX = "AlexaSkillEvent."
EVENTS_SCOPE = "alexa::async_event:write"


class MalformedSkillEvent(ValueError):
    """The event lacks what its type needs (e.g. no userId); a redelivery would not help."""


def minimal_response() -> dict[str, Any]:
    return {"version": "1.0", "response": {}}


def is_skill_event(request_type: Any) -> bool:
    return isinstance(request_type, str) and request_type.startswith(PREFIX)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    request = _object(event.get("request"))
    event_name = str(request.get("type", ""))[len(PREFIX) :]
    handler = HANDLERS.get(event_name)
    if handler is None:
        log(_log, logging.INFO, "skill event ignored", event_name=event_name[:64])
        return minimal_response()
    try:
        outcome = handler(_SkillEvent.parse(event))
    except MalformedSkillEvent as exc:
        log(_log, logging.WARNING, "malformed skill event", event_name=event_name, reason=str(exc))
        return minimal_response()
    log(_log, logging.INFO, "skill event handled", event_name=event_name, outcome=outcome)
    return minimal_response()


class _SkillEvent:
    def __init__(self, body: dict[str, Any], alexa_user_id: str, token: str | None, api_endpoint: str | None):
        self.body = body
        self.alexa_user_id = alexa_user_id
        self.token = token
        self.api_endpoint = api_endpoint

    @classmethod
    def parse(cls, event: dict[str, Any]) -> _SkillEvent:
        system = _object(_object(event.get("context")).get("System"))
        user = _object(system.get("user"))
        alexa_user_id = user.get("userId")
        if not isinstance(alexa_user_id, str) or not alexa_user_id:
            raise MalformedSkillEvent("no userId")
        try:  # JSON can carry a lone surrogate ("\\ud800"): no text, and it cannot be hashed
            alexa_user_id.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedSkillEvent("userId is not text") from None
        body = _object(event.get("request")).get("body") or {}
        if not isinstance(body, dict):
            raise MalformedSkillEvent("body is not an object")
        token = user.get("accessToken")
        api_endpoint = system.get("apiEndpoint")
        return cls(
            body,
            alexa_user_id,
            token if isinstance(token, str) and token else None,
            api_endpoint if isinstance(api_endpoint, str) else None,
        )

    @property
    def alexa_user_key(self) -> str:
        return pseudonyms.alexa_user_key(self.alexa_user_id)


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (what is missing is judged by the caller)."""
    return value if isinstance(value, dict) else {}


def on_enabled(event: _SkillEvent) -> str:
    return "nothing stored"


def on_account_linked(event: _SkillEvent) -> str:
    token = event.body.get("accessToken") or event.token
    if not isinstance(token, str) or not token:
        raise MalformedSkillEvent("no accessToken")
    try:
        user = identity.resolve_token(token)
    except (contract.InvalidToken, contract.ExpiredToken):
        return "token rejected by ACCloud"  # a new link is already being replaced; nothing to record
    link = identity.link_of(user)
    alexa_user_key = event.alexa_user_key
    now = datetime.now(UTC)
    try:
        store.upsert_link(
            link.user_key,
            link.link_key,
            region=identity.alexa_region(event.api_endpoint),
            alexa_user_key=alexa_user_key,
            linked_at=now,
        )
        profile = store.get_profile(link.user_key)
        if profile is None:
            # Linking is the user's consent, given under the policy version current now.
            store.put_profile(
                link.user_key,
                consented_at=now,
                linked_at=now,
                accepted_policy_version=settings().policy_version,
            )
    except store.ErasedDuringRequest:
        # Answered, not raised: a redelivery would begin after the erasure and write the user back.
        return "user erased meanwhile; nothing recorded"
    stale = [ref for ref in store.find_links_by_alexa_user(alexa_user_key) if ref != link]
    if stale:
        from skill.amazon.delete_report import send_delete_report

        for ref in stale:  # the sender reaches only unidentified links erased along with the last one
            erasure.erase_alexa_link(
                ref.user_key, ref.link_key, erasure.Trigger.ACCOUNT_RELINKED, notify_alexa=send_delete_report
            )
    return "linked" if not stale else "linked; earlier links erased"


def on_disabled(event: _SkillEvent) -> str:
    also = []
    if event.token:
        # Links made before the index knew this Alexa user are still found through the token.
        try:
            # The cache may answer: it only widens the erasure Amazon asked for to this token's link.
            also.append(identity.link_of(identity.resolve_token(event.token, verify=False)))
        except contract.CloudError as exc:
            log(_log, logging.INFO, "no link from the token at SkillDisabled", error_code=type(exc).__name__)
    from skill.amazon.delete_report import send_delete_report

    # It reaches only unidentified links erased along (their Alexa accounts may still show the cameras).
    records = erasure.erase_alexa_user(
        event.alexa_user_key, erasure.Trigger.SKILL_DISABLED, also=also, notify_alexa=send_delete_report
    )
    return f"erased {sum(r.items for r in records)} items in {len(records)} partitions"


def on_permission_change(event: _SkillEvent) -> str:
    accepted = event.body.get("acceptedPermissions") or []
    scopes = (
        {p.get("scope") for p in accepted if isinstance(p, dict) and isinstance(p.get("scope"), str)}
        if isinstance(accepted, list)
        else set()
    )
    permitted = EVENTS_SCOPE in scopes
    links = identity.links_of_alexa_user(event.alexa_user_id, event.token)
    for ref in links:
        if permitted:
            store.set_events_permitted(
                ref.user_key, ref.link_key, True
            )  # the grant itself comes with AcceptGrant
        else:
            erasure.erase_grant(ref.user_key, ref.link_key, erasure.Trigger.PERMISSION_WITHDRAWN)
    return f"events {'permitted' if permitted else 'withdrawn'} on {len(links)} links"


HANDLERS: dict[str, Callable[[_SkillEvent], str]] = {
    "SkillEnabled": on_enabled,
    "SkillAccountLinked": on_account_linked,
    "SkillDisabled": on_disabled,
    "SkillPermissionAccepted": on_permission_change,
    "SkillPermissionChanged": on_permission_change,
}
