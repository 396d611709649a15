"""Every ACCloud event type end to end: signed webhook in -> exact Event Gateway message out.

The gateway stand-in validates every message against Amazon's schema (and the project's
DeleteReport / SmartVision schemas); the tests validate again and compare field by field.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

import pytest

from devstack.demo_data import ALICE_ID, BACK_YARD, FRONT_DOOR, GARAGE
from skill import warm
from skill.alexa import endpoints
from skill.cloud.contract import parse_device
from skill.privacy import pseudonyms
from skill.proactive import webhook
from tests.alexa_schema import AlexaSchema
from tests.proactive.conftest import DEVICE_WIRE, Stack, accloud_event, ago, rfc3339, signed_event

LINK = "lnk_alexa1"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

PRIVATE_VALUES = ("ZSD190SERIAL0042", "02:aa:bb:cc:dd:ee", "Maple-Home", "02:11:22:33:44:55", "192.168.1.77",
                  "Example Lane", "dev_7a7a7a7a7a7a", ALICE_ID)  # fmt: skip


def endpoint_of(device_id: str) -> str:
    return pseudonyms.endpoint_id(ALICE_ID, device_id)


def deliver(stack: Stack, event: dict[str, Any]) -> int:
    return webhook.respond(signed_event(event), client=stack.client())["statusCode"]


def only_message(stack: Stack, schema: AlexaSchema) -> dict[str, Any]:
    sent = stack.gateway.messages()
    assert len(sent) == 1, [m["event"]["header"]["name"] for m in sent]
    schema.assert_valid(sent[0])
    assert UUID.match(sent[0]["event"]["header"]["messageId"])
    return sent[0]


def scoped(token: str, endpoint_id: str) -> dict[str, Any]:
    return {"scope": {"type": "BearerToken", "token": token}, "endpointId": endpoint_id}


# --- real-time events: (event type, device, expected message given token and event) -------------

Expected = Callable[[str, dict[str, Any]], dict[str, Any]]


def doorbell_press(token: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": {
            "header": {
                "namespace": "Alexa.DoorbellEventSource",
                "name": "DoorbellPress",
                "messageId": ANY,
                "payloadVersion": "3",
            },
            "endpoint": scoped(token, endpoint_of(FRONT_DOOR)),
            "payload": {"cause": {"type": "PHYSICAL_INTERACTION"}, "timestamp": event["occurred_at"]},
        }
    }


def motion(state: str) -> Expected:
    def expected(token: str, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "event": {
                "header": {
                    "namespace": "Alexa",
                    "name": "ChangeReport",
                    "messageId": ANY,
                    "payloadVersion": "3",
                },
                "endpoint": scoped(token, endpoint_of(GARAGE)),
                "payload": {
                    "change": {
                        "cause": {"type": "PHYSICAL_INTERACTION"},
                        "properties": [
                            {
                                "namespace": "Alexa.MotionSensor",
                                "name": "detectionState",
                                "value": state,
                                "timeOfSample": event["occurred_at"][:-1] + ".000Z",
                                "uncertaintyInMilliseconds": 0,
                            }
                        ],
                    }
                },
            },
            "context": {
                "properties": [
                    {
                        "namespace": "Alexa.EndpointHealth",
                        "name": "connectivity",
                        "value": {"value": "OK"},
                        "timeOfSample": ANY,
                        "uncertaintyInMilliseconds": 0,
                    }
                ]
            },
        }

    return expected


def person_detection(token: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": {
            "header": {
                "namespace": "Alexa.SmartVision.ObjectDetectionSensor",
                "name": "ObjectDetection",
                "messageId": ANY,
                "payloadVersion": "1.0",
            },
            "endpoint": scoped(token, endpoint_of(BACK_YARD)),
            "payload": {
                "events": [
                    {
                        "eventIdentifier": ANY,
                        "imageNetClass": "person",
                        "timeOfSample": event["occurred_at"][:-1] + ".000Z",
                        "uncertaintyInMilliseconds": 0,
                    }
                ]
            },
        }
    }


def connectivity(value: str) -> Expected:
    def expected(token: str, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "event": {
                "header": {
                    "namespace": "Alexa",
                    "name": "ChangeReport",
                    "messageId": ANY,
                    "payloadVersion": "3",
                },
                "endpoint": scoped(token, endpoint_of(GARAGE)),
                "payload": {
                    "change": {
                        "cause": {"type": "PERIODIC_POLL"},
                        "properties": [
                            {
                                "namespace": "Alexa.EndpointHealth",
                                "name": "connectivity",
                                "value": {"value": value},
                                "timeOfSample": event["occurred_at"][:-1] + ".000Z",
                                "uncertaintyInMilliseconds": 0,
                            }
                        ],
                    }
                },
            },
            "context": {"properties": []},
        }

    return expected


REAL_TIME_CASES: list[tuple[str, str, Expected]] = [
    ("doorbell.pressed", FRONT_DOOR, doorbell_press),
    ("motion.detected", GARAGE, motion("DETECTED")),
    ("motion.cleared", GARAGE, motion("NOT_DETECTED")),
    ("person.detected", BACK_YARD, person_detection),
    ("device.online", GARAGE, connectivity("OK")),
    ("device.offline", GARAGE, connectivity("UNREACHABLE")),
]


@pytest.mark.parametrize(
    ("event_type", "device_id", "expected"), REAL_TIME_CASES, ids=[c[0] for c in REAL_TIME_CASES]
)
def test_real_time_events_become_exactly_one_message(
    stack: Stack, alexa_schema: AlexaSchema, event_type: str, device_id: str, expected: Expected
) -> None:
    token = stack.link(ALICE_ID, LINK)
    event = accloud_event(event_type, ALICE_ID, device_id)
    assert deliver(stack, event) == 202
    message = only_message(stack, alexa_schema)
    assert message == expected(token, event)
    assert [m["EventsDelivered"] for m in stack.metrics_named("EventsDelivered")] == [1]


def test_a_doorbell_press_keeps_whole_seconds_of_the_press_time(
    stack: Stack, alexa_schema: AlexaSchema
) -> None:
    stack.link(ALICE_ID, LINK)
    pressed = ago(5)
    event = accloud_event(
        "doorbell.pressed", ALICE_ID, FRONT_DOOR, occurred_at=rfc3339(pressed)[:-1] + ".734Z"
    )
    assert deliver(stack, event) == 202
    assert only_message(stack, alexa_schema)["event"]["payload"]["timestamp"] == rfc3339(pressed)


def test_a_person_detection_carries_a_fresh_uuid_and_no_image(
    stack: Stack, alexa_schema: AlexaSchema
) -> None:
    stack.link(ALICE_ID, LINK)
    event = accloud_event("person.detected", ALICE_ID, BACK_YARD)
    assert deliver(stack, event) == 202
    detection = only_message(stack, alexa_schema)["event"]["payload"]["events"][0]
    assert UUID.match(detection["eventIdentifier"])
    assert event["id"][4:] not in json.dumps(detection)
    assert not {"frameImageUri", "frameImage", "clipUri"} & set(detection)


@pytest.mark.parametrize("event_type", ["device.online", "device.offline"])
def test_connectivity_changes_never_ring_the_doorbell(
    stack: Stack, alexa_schema: AlexaSchema, event_type: str
) -> None:
    stack.link(ALICE_ID, LINK)
    assert deliver(stack, accloud_event(event_type, ALICE_ID, FRONT_DOOR)) == 202
    assert only_message(stack, alexa_schema)["event"]["header"]["name"] == "ChangeReport"


def test_a_press_on_an_endpoint_indexed_as_a_plain_camera_is_ignored(stack: Stack) -> None:
    from models import store

    stack.link(ALICE_ID, LINK)
    record = store.EndpointRecord(("CAMERA",), "digest")
    store.apply_endpoint_diff(pseudonyms.user_key(ALICE_ID), upserts={endpoint_of(GARAGE): record})
    assert deliver(stack, accloud_event("doorbell.pressed", ALICE_ID, GARAGE)) == 202
    assert stack.gateway.received() == []


# --- staleness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "device_id", "_"), REAL_TIME_CASES, ids=[c[0] for c in REAL_TIME_CASES]
)
def test_stale_real_time_events_are_dropped_and_counted(
    stack: Stack, event_type: str, device_id: str, _: Any
) -> None:
    stack.link(ALICE_ID, LINK)
    event = accloud_event(event_type, ALICE_ID, device_id, occurred_at=rfc3339(ago(61)))
    assert deliver(stack, event) == 202
    assert stack.gateway.received() == []
    [metric] = stack.metrics_named("StaleEventsDropped")
    assert metric["StaleEventsDropped"] == 1 and metric["event_type"] == event_type
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ZOSI/Skill"


@pytest.mark.parametrize(
    ("event_type", "device_id", "_"), REAL_TIME_CASES, ids=[c[0] for c in REAL_TIME_CASES]
)
def test_real_time_events_dated_in_the_future_are_dropped_and_counted(
    stack: Stack, event_type: str, device_id: str, _: Any
) -> None:
    """Was one DoorbellPress "at 2099" announced now. Further ahead than a signature may be (the
    tolerance, 300 s) is no clock skew: dropped like a stale event, under its own metric."""
    stack.link(ALICE_ID, LINK)
    for occurred_at in ("2099-01-01T00:00:00Z", rfc3339(ago(-330))):
        assert deliver(stack, accloud_event(event_type, ALICE_ID, device_id, occurred_at=occurred_at)) == 202
    assert stack.gateway.received() == []
    dropped = stack.metrics_named("FutureEventsDropped")
    assert [(m["FutureEventsDropped"], m["event_type"]) for m in dropped] == [(1, event_type)] * 2
    assert dropped[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ZOSI/Skill"
    assert stack.metrics_named("StaleEventsDropped") == []


def test_the_future_limit_is_the_signature_tolerance(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:

    stack.link(ALICE_ID, LINK)
    ahead = accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR, occurred_at=rfc3339(ago(-250)))
    assert deliver(stack, ahead) == 202
    assert len(stack.gateway.messages()) == 1  # within the skew a signature may have: sent
    monkeypatch.setenv("ZOSI_WEBHOOK_TOLERANCE_SECONDS", "200")
    warm.reset()
    ahead = accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR, occurred_at=rfc3339(ago(-250)))
    assert deliver(stack, ahead) == 202
    assert len(stack.gateway.messages()) == 1
    assert len(stack.metrics_named("FutureEventsDropped")) == 1


def test_lifecycle_events_are_never_dropped_for_a_future_date(
    stack: Stack, alexa_schema: AlexaSchema
) -> None:
    """Erasure and the endpoint list must converge whatever ACCloud's clock says."""
    stack.link(ALICE_ID, LINK)
    event = accloud_event("device.removed", ALICE_ID, GARAGE, occurred_at="2099-01-01T00:00:00Z")
    assert deliver(stack, event) == 202
    assert only_message(stack, alexa_schema)["event"]["header"]["name"] == "DeleteReport"
    assert stack.metrics_named("FutureEventsDropped") == []


def test_events_within_the_staleness_window_are_sent(stack: Stack) -> None:
    stack.link(ALICE_ID, LINK)
    assert (
        deliver(stack, accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR, occurred_at=rfc3339(ago(55))))
        == 202
    )
    assert len(stack.gateway.messages()) == 1


def test_lifecycle_events_are_never_dropped_for_age(stack: Stack, alexa_schema: AlexaSchema) -> None:
    stack.link(ALICE_ID, LINK)
    event = accloud_event("device.removed", ALICE_ID, GARAGE, occurred_at=rfc3339(ago(3600)))
    assert deliver(stack, event) == 202
    assert only_message(stack, alexa_schema)["event"]["header"]["name"] == "DeleteReport"
    assert stack.metrics_named("StaleEventsDropped") == []


# --- discovery events and the endpoint index -------------------------------------------------


def index() -> dict[str, Any]:
    from models import store

    return store.endpoint_index(pseudonyms.user_key(ALICE_ID))


def test_device_added_sends_the_allow_listed_description_and_indexes_it(
    stack: Stack, alexa_schema: AlexaSchema
) -> None:
    token = stack.link(ALICE_ID, LINK)
    assert (
        deliver(stack, accloud_event("device.added", ALICE_ID, DEVICE_WIRE["id"], device=DEVICE_WIRE)) == 202
    )
    message = only_message(stack, alexa_schema)
    described = endpoints.describe(ALICE_ID, parse_device(DEVICE_WIRE))
    assert message == {
        "event": {
            "header": {
                "namespace": "Alexa.Discovery",
                "name": "AddOrUpdateReport",
                "messageId": ANY,
                "payloadVersion": "3",
            },
            "payload": {"endpoints": [described], "scope": {"type": "BearerToken", "token": token}},
        }
    }
    endpoint = message["event"]["payload"]["endpoints"][0]
    assert endpoint["friendlyName"] == "Side Door"
    assert endpoint["displayCategories"] == ["CAMERA", "DOORBELL"]
    interfaces = [c["interface"] for c in endpoint["capabilities"]]
    assert "Alexa.SmartVision.ObjectDetectionSensor" in interfaces
    assert "Alexa.DoorbellEventSource" in interfaces and "Alexa.MotionSensor" in interfaces
    text = json.dumps(message)
    assert not [v for v in PRIVATE_VALUES if v in text]
    record = index()[endpoint["endpointId"]]
    assert record.categories == ("CAMERA", "DOORBELL")
    assert record.capability_digest == endpoints.capability_digest(endpoint)


def test_an_update_that_changes_nothing_alexa_sees_is_not_sent(
    stack: Stack, alexa_schema: AlexaSchema
) -> None:
    stack.link(ALICE_ID, LINK)
    assert (
        deliver(stack, accloud_event("device.added", ALICE_ID, DEVICE_WIRE["id"], device=DEVICE_WIRE)) == 202
    )
    moved = {**DEVICE_WIRE, "lan_ip": "192.168.1.99", "online": False}  # nothing Alexa is told about
    assert deliver(stack, accloud_event("device.updated", ALICE_ID, DEVICE_WIRE["id"], device=moved)) == 202
    assert len(stack.gateway.messages()) == 1
    renamed = {**DEVICE_WIRE, "name": "Kitchen Door"}
    assert deliver(stack, accloud_event("device.updated", ALICE_ID, DEVICE_WIRE["id"], device=renamed)) == 202
    sent = stack.gateway.messages()
    assert len(sent) == 2
    alexa_schema.assert_valid(sent[1])
    assert sent[1]["event"]["payload"]["endpoints"][0]["friendlyName"] == "Kitchen Door"


def test_a_camera_without_person_detection_does_not_advertise_smartvision(
    stack: Stack, alexa_schema: AlexaSchema
) -> None:
    stack.link(ALICE_ID, LINK)
    plain = {
        **DEVICE_WIRE,
        "kind": "camera",
        "capabilities": {"motion_detection": False, "person_detection": False},
    }
    assert deliver(stack, accloud_event("device.added", ALICE_ID, plain["id"], device=plain)) == 202
    endpoint = only_message(stack, alexa_schema)["event"]["payload"]["endpoints"][0]
    interfaces = {c["interface"] for c in endpoint["capabilities"]}
    assert interfaces.isdisjoint({"Alexa.SmartVision.ObjectDetectionSensor", "Alexa.MotionSensor",
                                  "Alexa.DoorbellEventSource"})  # fmt: skip


def test_device_removed_sends_a_delete_report_and_unindexes(stack: Stack, alexa_schema: AlexaSchema) -> None:
    token = stack.link(ALICE_ID, LINK)
    assert (
        deliver(stack, accloud_event("device.added", ALICE_ID, DEVICE_WIRE["id"], device=DEVICE_WIRE)) == 202
    )
    endpoint_id = endpoint_of(DEVICE_WIRE["id"])
    assert endpoint_id in index()
    assert deliver(stack, accloud_event("device.removed", ALICE_ID, DEVICE_WIRE["id"])) == 202
    delete = stack.gateway.messages()[-1]
    alexa_schema.assert_valid(delete)
    assert delete == {
        "event": {
            "header": {
                "namespace": "Alexa.Discovery",
                "name": "DeleteReport",
                "messageId": ANY,
                "payloadVersion": "3",
            },
            "payload": {
                "endpoints": [{"endpointId": endpoint_id}],
                "scope": {"type": "BearerToken", "token": token},
            },
        }
    }
    assert endpoint_id not in index()


def test_an_addition_alexa_refused_is_not_indexed(stack: Stack) -> None:
    stack.link(ALICE_ID, LINK)
    stack.gateway.fail_next(400)
    assert (
        deliver(stack, accloud_event("device.added", ALICE_ID, DEVICE_WIRE["id"], device=DEVICE_WIRE)) == 202
    )
    assert index() == {}


# --- account events ---------------------------------------------------------------------------


def test_account_deleted_reports_every_indexed_endpoint_then_erases(
    stack: Stack, alexa_schema: AlexaSchema
) -> None:
    from models import store

    token = stack.link(ALICE_ID, LINK)
    for device_id in ("dev_aaa111", "dev_bbb222"):
        wire = {**DEVICE_WIRE, "id": device_id}
        assert deliver(stack, accloud_event("device.added", ALICE_ID, device_id, device=wire)) == 202
    stack.gateway.clear()
    assert deliver(stack, accloud_event("account.deleted", ALICE_ID)) == 202
    message = only_message(stack, alexa_schema)
    assert message["event"]["header"]["name"] == "DeleteReport"
    assert message["event"]["payload"]["scope"] == {"type": "BearerToken", "token": token}
    reported = {e["endpointId"] for e in message["event"]["payload"]["endpoints"]}
    assert reported == {endpoint_of("dev_aaa111"), endpoint_of("dev_bbb222")}
    assert store.export_user(pseudonyms.user_key(ALICE_ID)) == []


def test_account_deleted_without_grant_still_erases(stack: Stack) -> None:
    from models import store

    stack.link(ALICE_ID, LINK, grant=False)
    assert deliver(stack, accloud_event("account.deleted", ALICE_ID)) == 202
    assert stack.gateway.received() == []
    assert store.export_user(pseudonyms.user_key(ALICE_ID)) == []


def test_consent_withdrawal_deletes_grants_and_ignores_later_events(stack: Stack) -> None:
    from models import store

    stack.link(ALICE_ID, "lnk_one", "NA")
    stack.link(ALICE_ID, "lnk_two", "EU")
    assert deliver(stack, accloud_event("account.consent_withdrawn", ALICE_ID)) == 202
    links = store.links_of(pseudonyms.user_key(ALICE_ID))
    assert len(links) == 2
    assert all(not link.has_grant and not link.events_permitted for link in links)
    for event_type, device_id, extra in [
        ("doorbell.pressed", FRONT_DOOR, {}),
        ("device.added", DEVICE_WIRE["id"], {"device": DEVICE_WIRE}),
        ("device.removed", GARAGE, {}),
    ]:
        assert deliver(stack, accloud_event(event_type, ALICE_ID, device_id, **extra)) == 202
    assert stack.gateway.received() == []
    assert index() == {}


# --- who gets what ----------------------------------------------------------------------------


def test_a_link_without_a_grant_gets_nothing(stack: Stack) -> None:
    stack.link(ALICE_ID, LINK, grant=False)
    assert deliver(stack, accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR)) == 202
    assert stack.gateway.received() == []
    assert stack.metrics_named("EventGatewayFailures") == []


def test_every_linked_alexa_account_gets_its_own_message_in_its_region(
    stack: Stack, alexa_schema: AlexaSchema
) -> None:
    tokens = {region: stack.link(ALICE_ID, f"lnk_{region.lower()}", region) for region in ("NA", "EU", "FE")}
    stack.link(ALICE_ID, "lnk_nogrant", "NA", grant=False)
    assert deliver(stack, accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR)) == 202
    for region, token in tokens.items():
        [message] = stack.gateway.messages(region)
        alexa_schema.assert_valid(message)
        assert message["event"]["endpoint"]["scope"]["token"] == token
    assert len(stack.gateway.received()) == 3
    assert len({m["event"]["header"]["messageId"] for m in stack.gateway.messages()}) == 3


def test_person_detections_share_one_identifier_across_links(stack: Stack) -> None:
    stack.link(ALICE_ID, "lnk_na", "NA")
    stack.link(ALICE_ID, "lnk_eu", "EU")
    assert deliver(stack, accloud_event("person.detected", ALICE_ID, BACK_YARD)) == 202
    identifiers = {m["event"]["payload"]["events"][0]["eventIdentifier"] for m in stack.gateway.messages()}
    assert len(identifiers) == 1
    assert uuid.UUID(identifiers.pop()).version == 4


def test_timestamps_in_context_are_current_utc_millis(stack: Stack) -> None:
    stack.link(ALICE_ID, LINK)
    assert deliver(stack, accloud_event("motion.detected", ALICE_ID, GARAGE)) == 202
    [message] = stack.gateway.messages()
    assert MILLIS.match(message["context"]["properties"][0]["timeOfSample"])


def test_processing_logs_name_no_user_device_token_or_endpoint(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from skill.privacy.logs import JsonFormatter, RedactionFilter

    token = stack.link(ALICE_ID, LINK)
    stack.gateway.fail_next(503, times=1)
    with caplog.at_level(logging.DEBUG):
        for event in (
            accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR),
            accloud_event("device.added", ALICE_ID, DEVICE_WIRE["id"], device=DEVICE_WIRE),
            accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR, occurred_at=rfc3339(ago(600))),
            accloud_event("account.deleted", ALICE_ID),
        ):
            assert deliver(stack, event) == 202
    redaction, formatter = RedactionFilter(), JsonFormatter()
    lines = []
    for record in caplog.records:
        redaction.filter(record)
        lines.append(formatter.format(record))
    text = "\n".join(lines)
    assert "stale event dropped" in text and "webhook event processed" in text
    secrets_seen = [token, FRONT_DOOR, endpoint_of(FRONT_DOOR), *PRIVATE_VALUES, "Side Door"]
    assert [value for value in secrets_seen if value in text] == []


def test_a_ring_costs_one_conditional_put_and_one_query(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pynamodb.connection.base import Connection

    stack.link(ALICE_ID, LINK)
    operations: list[str] = []
    original = Connection._make_api_call

    def counting(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        operations.append(operation_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)
    assert deliver(stack, accloud_event("doorbell.pressed", ALICE_ID, FRONT_DOOR)) == 202
    assert operations == ["PutItem", "Query"]  # claim, then links + endpoint index together
    assert len(stack.gateway.messages()) == 1
