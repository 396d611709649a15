"""The project-owned schemas (DeleteReport, SmartVision) and the oracle's split of discovery messages;
the SmartVision capability in discovery; the EMF metric format."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from skill import metrics
from skill.alexa import capabilities, messages
from skill.amazon import delete_report as delete_report_module
from skill.cloud.contract import Device, StreamProfile
from skill.proactive import events
from tests.alexa_schema import AlexaSchema

pytestmark = pytest.mark.usefixtures("aws_env")

TOKEN = "Atza|" + "t" * 380
ENDPOINT = "z1_" + "A" * 40
MESSAGE_ID = "7b8e3b5e-2f7a-4d47-9a43-2f3e1c7d9a10"
DETECTION_ID = "2b1c9f2e-7a10-4c3e-8d35-5b3f0a8e6c44"

DOORBELL = Device(
    id="dev_abc123",
    name="Front Door",
    kind="doorbell",
    model="D190",
    firmware="v3.4.0",
    online=True,
    privacy_mode=False,
    motion_detection=True,
    person_detection=True,
    two_way_audio=True,
    profiles=(
        StreamProfile("RTSP", 1920, 1080, "H264", "AAC"),
        StreamProfile("WEBRTC", 1920, 1080, "H264", "AAC"),
    ),
)


def delete_report(n: int = 1) -> dict[str, Any]:
    message = delete_report_module.delete_report([f"{ENDPOINT}{i}" for i in range(n)])(TOKEN)
    message["event"]["header"]["messageId"] = MESSAGE_ID
    return message


def object_detection() -> dict[str, Any]:
    return events.object_detection(ENDPOINT, DETECTION_ID, messages.utc_now())(TOKEN)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(message: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = message
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()

DELETE_REPORT_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "no endpoints": _set("event/payload/endpoints", []),
    "endpoint with a name": _set("event/payload/endpoints/0", {"endpointId": ENDPOINT, "friendlyName": "x"}),
    "endpointId with a space": _set("event/payload/endpoints/0/endpointId", "a b"),
    "endpointId too long": _set("event/payload/endpoints/0/endpointId", "a" * 257),
    "no scope": _set("event/payload/scope", _DELETE),
    "scope of another type": _set("event/payload/scope/type", "Basic"),
    "empty scope token": _set("event/payload/scope/token", ""),
    "payloadVersion 2": _set("event/header/payloadVersion", "2"),
    "messageId with underscore": _set("event/header/messageId", "a_b"),
    "correlationToken": _set("event/header/correlationToken", "abc"),
    "event.endpoint": _set("event/endpoint", {"endpointId": ENDPOINT}),
    "extra payload field": _set("event/payload/cookie", {}),
}


def test_delete_reports_validate(alexa_schema: AlexaSchema) -> None:
    alexa_schema.assert_valid(delete_report())
    alexa_schema.assert_valid(delete_report(300))


@pytest.mark.parametrize("case", list(DELETE_REPORT_MUTATIONS), ids=list(DELETE_REPORT_MUTATIONS))
def test_delete_report_schema_rejects(alexa_schema: AlexaSchema, case: str) -> None:
    message = delete_report()
    DELETE_REPORT_MUTATIONS[case](message)
    assert alexa_schema.errors(message)


def test_delete_report_holds_at_most_300_endpoints(alexa_schema: AlexaSchema) -> None:
    assert alexa_schema.errors(delete_report(301))


OBJECT_DETECTION_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "frame image": _set("event/payload/events/0/frameImageUri", "https://cdn.example/f.jpg"),
    "payloadVersion 3": _set("event/header/payloadVersion", "3"),
    "no endpoint scope": _set("event/endpoint/scope", _DELETE),
    "no events": _set("event/payload/events", []),
    "class in capitals": _set("event/payload/events/0/imageNetClass", "PERSON"),
    "eventIdentifier not a UUID": _set("event/payload/events/0/eventIdentifier", "evt_123"),
    "time with zone offset": _set("event/payload/events/0/timeOfSample", "2026-01-01T08:00:00+01:00"),
    "negative uncertainty": _set("event/payload/events/0/uncertaintyInMilliseconds", -1),
    "other name": _set("event/header/name", "ObjectDetected"),
}


def test_object_detection_validates(alexa_schema: AlexaSchema) -> None:
    alexa_schema.assert_valid(object_detection())


@pytest.mark.parametrize("case", list(OBJECT_DETECTION_MUTATIONS), ids=list(OBJECT_DETECTION_MUTATIONS))
def test_smartvision_schema_rejects(alexa_schema: AlexaSchema, case: str) -> None:
    message = object_detection()
    OBJECT_DETECTION_MUTATIONS[case](message)
    assert alexa_schema.errors(message)


# --- discovery with SmartVision ------------------------------------------------------------------


def add_or_update(device: Device = DOORBELL) -> dict[str, Any]:
    from skill.alexa import endpoints

    return events.add_or_update_report([endpoints.describe("usr_alice", device)])(TOKEN)


def smartvision_entry(message: dict[str, Any]) -> dict[str, Any]:
    [entry] = [
        c
        for c in message["event"]["payload"]["endpoints"][0]["capabilities"]
        if c["interface"] == "Alexa.SmartVision.ObjectDetectionSensor"
    ]
    return entry


def test_person_detecting_cameras_advertise_object_detection(alexa_schema: AlexaSchema) -> None:
    message = add_or_update()
    alexa_schema.assert_valid(message)
    assert smartvision_entry(message) == {
        "type": "AlexaInterface",
        "interface": "Alexa.SmartVision.ObjectDetectionSensor",
        "version": "1.0",
        "properties": {
            "supported": [{"name": "objectDetectionClasses"}],
            "proactivelyReported": True,
            "retrievable": False,
        },
        "configuration": {"objectDetectionConfiguration": [{"imageNetClass": "person"}]},
    }


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(version="3"),
        lambda e: e["configuration"].update(objectDetectionConfiguration=[]),
        lambda e: e["configuration"]["objectDetectionConfiguration"][0].update(
            imageUri="https://x.example/a.jpg"
        ),
        lambda e: e["properties"].update(supported=[{"name": "detectionState"}]),
        lambda e: e.pop("configuration"),
    ],
    ids=["version 3", "no classes", "image in a class", "wrong property", "no configuration"],
)
def test_a_bad_smartvision_entry_fails_the_discovery_message(alexa_schema: AlexaSchema, mutate: Any) -> None:
    message = add_or_update()
    mutate(smartvision_entry(message))
    problems = alexa_schema.errors(message)
    assert problems and all("/capabilities/" in p for p in problems)


def test_the_rest_of_a_discovery_message_still_meets_the_official_schema(alexa_schema: AlexaSchema) -> None:
    message = add_or_update()
    message["event"]["payload"]["endpoints"][0]["displayCategories"] = ["SPACESHIP"]
    assert alexa_schema.errors(message)
    response = copy.deepcopy(message)
    response["event"]["header"]["name"] = "Discover.Response"
    response["event"]["payload"].pop("scope")
    assert alexa_schema.errors(response)
    response["event"]["payload"]["endpoints"][0]["displayCategories"] = ["CAMERA"]
    alexa_schema.assert_valid(response)


def test_cameras_without_person_detection_have_no_smartvision() -> None:
    plain = DOORBELL._replace(person_detection=False)
    assert not any(isinstance(c, capabilities.ObjectDetectionSensor) for c in capabilities.for_device(plain))
    assert any(isinstance(c, capabilities.ObjectDetectionSensor) for c in capabilities.for_device(DOORBELL))


# --- EMF ------------------------------------------------------------------------------------


def test_emf_lines_name_namespace_metric_unit_and_dimensions() -> None:
    line = json.loads(metrics.emf_line("EventGatewayFailures", 1, outcome="rejected"))
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive == {
        "Namespace": "ZOSI/Skill",
        "Dimensions": [["outcome"]],
        "Metrics": [{"Name": "EventGatewayFailures", "Unit": "Count"}],
    }
    assert line["EventGatewayFailures"] == 1 and line["outcome"] == "rejected"
    assert isinstance(line["_aws"]["Timestamp"], int)


def test_emit_writes_one_line_per_value(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[str] = []
    monkeypatch.setattr(metrics, "sink", written.append)
    metrics.emit(metrics.EVENTS_DELIVERED)
    metrics.emit(metrics.STALE_EVENTS_DROPPED, event_type="doorbell.pressed")
    assert [list(json.loads(w))[1] for w in written] == ["EventsDelivered", "StaleEventsDropped"]
    assert all("\n" not in w for w in written)
