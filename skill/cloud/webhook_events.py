"""ACCloud's signed webhook body (docs/accloud-openapi.yaml, ``webhooks``) as the skill reads it.

An allow-list: fields the skill does not know are dropped unread (never stored, logged or shared),
known ones are validated strictly; a malformed event is ``EventRejected`` (the webhook answers 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skill.cloud.contract import DETECTION_ID, Device, MalformedDevice, parse_device

DOORBELL_PRESSED = "doorbell.pressed"
MOTION_DETECTED = "motion.detected"
MOTION_CLEARED = "motion.cleared"
PERSON_DETECTED = "person.detected"
DEVICE_ONLINE = "device.online"
DEVICE_OFFLINE = "device.offline"
DEVICE_ADDED = "device.added"
DEVICE_UPDATED = "device.updated"
DEVICE_REMOVED = "device.removed"
ACCOUNT_DELETED = "account.deleted"
CONSENT_WITHDRAWN = "account.consent_withdrawn"
CONSENT_GIVEN = "account.consent_given"
DETECTIONS_DELETED = "detections.deleted"

REAL_TIME = frozenset(
    {DOORBELL_PRESSED, MOTION_DETECTED, MOTION_CLEARED, PERSON_DETECTED, DEVICE_ONLINE, DEVICE_OFFLINE}
)
WITH_DEVICE_BODY = frozenset({DEVICE_ADDED, DEVICE_UPDATED})
ACCOUNT_EVENTS = frozenset({ACCOUNT_DELETED, CONSENT_WITHDRAWN, CONSENT_GIVEN})
EVENT_TYPES = REAL_TIME | WITH_DEVICE_BODY | ACCOUNT_EVENTS | {DEVICE_REMOVED, DETECTIONS_DELETED}

# All parse reads.
FIELDS = frozenset({"id", "type", "occurred_at", "user_id", "device_id", "device", "detection_ids", "reason"})
_MAX_ID = 128
MAX_DELETED_DETECTIONS = 1000  # one detections.deleted names at most this many (the contract)
DELETION_REASONS = frozenset({"deleted", "expired"})


class EventRejected(ValueError):
    """The body is not a well-formed ACCloud event (answered 400, not retried). No values in the message."""


@dataclass(frozen=True)
class AccloudEvent:
    id: str
    type: str
    occurred_at: datetime
    user_id: str
    device_id: str | None = None
    device: Device | None = None
    detection_ids: tuple[str, ...] = ()  # detections.deleted only: ACCloud's raw ids, never shown to Alexa
    deletion_reason: str | None = None  # detections.deleted only: "deleted" or "expired"


def parse(body: Any) -> AccloudEvent:
    """The event in ``body`` (already JSON-decoded): known fields strictly validated, others dropped."""
    if not isinstance(body, dict):
        raise EventRejected("event is not a JSON object")
    # Tolerant reader: a field ACCloud added later is no error, and nothing below ever sees it.
    body = {key: value for key, value in body.items() if key in FIELDS}
    event_id = _id(body.get("id"), "evt_", "id")
    event_type = body.get("type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:  # a list is not even hashable
        raise EventRejected("unknown event type")
    occurred_at = _time(body.get("occurred_at"))
    user_id = _id(body.get("user_id"), "usr_", "user_id")
    device_id: str | None = None
    device: Device | None = None
    if event_type in ACCOUNT_EVENTS:
        if "device_id" in body or "device" in body:
            raise EventRejected("account events carry no device")
    else:
        device_id = _id(body.get("device_id"), "dev_", "device_id")
        if event_type in WITH_DEVICE_BODY:
            try:
                device = parse_device(body.get("device"))
            except MalformedDevice as exc:
                raise EventRejected(f"malformed device: {exc}") from None
            if device.id != device_id:
                raise EventRejected("device.id differs from device_id")
        elif "device" in body:
            raise EventRejected("only device.added and device.updated carry a device")
    detection_ids, reason = _deletion(body, event_type)
    return AccloudEvent(event_id, event_type, occurred_at, user_id, device_id, device, detection_ids, reason)


def _deletion(body: dict[str, Any], event_type: str) -> tuple[tuple[str, ...], str | None]:
    """The detection ids and reason of a detections.deleted (other events carry no ids)."""
    if event_type != DETECTIONS_DELETED:
        if "detection_ids" in body:
            raise EventRejected("only detections.deleted carries detection_ids")
        return (), None
    ids = body.get("detection_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_DELETED_DETECTIONS:
        raise EventRejected(f"detection_ids must list 1 to {MAX_DELETED_DETECTIONS} ids")
    if not all(isinstance(i, str) and DETECTION_ID.fullmatch(i) for i in ids):
        raise EventRejected("detection_ids holds a malformed id")
    if len(set(ids)) != len(ids):
        raise EventRejected("detection_ids repeats an id")
    reason = body.get("reason")
    if not isinstance(reason, str) or reason not in DELETION_REASONS:
        raise EventRejected("reason must be deleted or expired")
    return tuple(ids), reason


def _id(value: Any, prefix: str, name: str) -> str:
    if (
        not isinstance(value, str)
        or not value.startswith(prefix)
        or len(value) > _MAX_ID
        or len(value) == len(prefix)
        or not value[len(prefix) :].isascii()
        or not value[len(prefix) :].isalnum()
    ):
        raise EventRejected(f"{name} missing or malformed")
    return value


def _time(value: Any) -> datetime:
    if not isinstance(value, str) or not value.endswith("Z"):
        raise EventRejected("occurred_at must be RFC 3339 UTC with Z")
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        raise EventRejected("occurred_at must be RFC 3339 UTC with Z") from None
    if moment.tzinfo is None:
        raise EventRejected("occurred_at must carry a zone")
    return moment.astimezone(UTC)
