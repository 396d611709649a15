"""ACCloud's webhook body (skill/cloud/webhook_events.py): known fields strictly, unknown ones unread.

The webhook's HTTP tests (tests/proactive/test_webhook.py) send every malformed body below signed
and assert 400 with nothing stored or sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.demo_data import ALICE_ID, FRONT_DOOR
from skill.cloud import webhook_events
from skill.cloud.webhook_events import AccloudEvent, EventRejected


def event(
    event_type: Any = "doorbell.pressed", device_id: str | None = FRONT_DOOR, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "evt_4f1c2a9e8b7d",
        "type": event_type,
        "occurred_at": "2026-01-01T08:00:00Z",
        "user_id": ALICE_ID,
    }
    if device_id is not None:
        body["device_id"] = device_id
    return {**body, **extra}


def deletion(ids: Any = None, reason: Any = "deleted") -> dict[str, Any]:
    ids = ["det_9b2f4c1a7e3d"] if ids is None else ids
    return event("detections.deleted", FRONT_DOOR, detection_ids=ids, reason=reason)


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != field}


# name -> JSON-decoded body that is no well-formed ACCloud event
MALFORMED_EVENTS: dict[str, Any] = {
    "JSON array": [event()],
    "unknown type": event("doorbell.exploded"),
    "type not text": event(["doorbell.pressed"]),
    "missing id": without(event(), "id"),
    "id without prefix": event(id="4f1c2a9e"),
    "id of a prefix only": event(id="evt_"),
    "id with non-ASCII digits": event(id="evt_\u0663\u0663"),
    "id too long": event(id="evt_" + "a" * 125),
    "missing user_id": without(event(), "user_id"),
    "missing device_id": without(event(), "device_id"),
    "occurred_at without Z": event(occurred_at="2026-01-01T08:00:00+01:00"),
    "occurred_at garbage": event(occurred_at="yesterday"),
    "occurred_at a number": event(occurred_at=1767254400),
    "account event with device": event("account.deleted"),
    "device.added without device": event("device.added"),
    "device body on a ring": event(device={"id": FRONT_DOOR}),
    "device.id differs": event("device.updated", device={"id": "dev_other", "name": "x", "kind": "camera"}),
    # detections.deleted: 1 to 1000 of ACCloud's detection ids, unique, and why they went
    "deletion without ids": without(deletion(), "detection_ids"),
    "deletion of no ids": deletion([]),
    "deletion of 1001 ids": deletion([f"det_{i}" for i in range(1001)]),
    "deletion ids not a list": deletion("det_1"),
    "deletion id not text": deletion(["det_1", 2]),
    "deletion id without prefix": deletion(["det_1", "9b2f4c"]),
    "deletion id of a prefix only": deletion(["det_"]),
    "deletion id with a dash": deletion(["det_9b2f-4c"]),
    "deletion id too long": deletion(["det_" + "a" * 65]),
    "deletion id twice": deletion(["det_1", "det_1"]),
    "deletion without reason": without(deletion(), "reason"),
    "deletion for another reason": deletion(reason="purged"),
    "deletion without device_id": without(deletion(), "device_id"),
    "detection_ids on a ring": event(detection_ids=["det_1"]),
}


@pytest.mark.parametrize("case", list(MALFORMED_EVENTS), ids=list(MALFORMED_EVENTS))
def test_malformed_events_are_rejected_without_echoing_a_value(case: str) -> None:
    body = MALFORMED_EVENTS[case]
    with pytest.raises(EventRejected) as caught:
        webhook_events.parse(body)
    # The reason is logged: it names the field, never what ACCloud sent in it.
    values = [v for v in body.values() if isinstance(v, str)] if isinstance(body, dict) else []
    assert not [v for v in values if v in str(caught.value)]


def test_a_well_formed_event_is_read_into_its_fields() -> None:
    parsed = webhook_events.parse(event(occurred_at="2026-01-01T08:00:00.250Z"))
    moment = datetime(2026, 1, 1, 8, 0, 0, 250000, UTC)
    assert parsed == AccloudEvent("evt_4f1c2a9e8b7d", "doorbell.pressed", moment, ALICE_ID, FRONT_DOOR)


def test_an_account_event_carries_no_device() -> None:
    parsed = webhook_events.parse(event("account.deleted", device_id=None))
    assert (parsed.type, parsed.device_id, parsed.device) == ("account.deleted", None, None)


def test_a_device_event_carries_the_parsed_device() -> None:
    device = {"id": FRONT_DOOR, "name": "Porch", "kind": "camera", "serial_number": "ZSD-42"}
    parsed = webhook_events.parse(event("device.added", device=device))
    assert parsed.device is not None and (parsed.device.id, parsed.device.name) == (FRONT_DOOR, "Porch")
    assert "ZSD-42" not in repr(parsed)  # the device body is an allow-list too


def test_fields_the_skill_does_not_know_are_dropped_unread() -> None:
    """A field ACCloud adds later is no error; the event is the same as without it."""
    added = {"zq_added_later": {"nested": ["x", 1]}, "detection_id": "det_1", "note": "hello"}
    assert webhook_events.parse(event(**added)) == webhook_events.parse(event())


def test_a_deletion_carries_its_detection_ids_and_reason() -> None:
    ids = [f"det_{i:04d}" for i in range(1000)]  # the contract's most
    parsed = webhook_events.parse(deletion(ids, "expired"))
    assert (parsed.type, parsed.device_id) == ("detections.deleted", FRONT_DOOR)
    assert (parsed.detection_ids, parsed.deletion_reason) == (tuple(ids), "expired")


def test_other_events_carry_no_detection_ids() -> None:
    """``reason`` on another event is a field the skill does not read there, not an error."""
    parsed = webhook_events.parse(event(reason="deleted"))
    assert (parsed.detection_ids, parsed.deletion_reason) == ((), None)


def test_every_event_type_of_the_contract_is_known() -> None:
    from devstack.accloud import EVENT_TYPES

    assert set(EVENT_TYPES) == webhook_events.EVENT_TYPES
