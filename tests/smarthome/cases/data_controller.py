"""Alexa.DataController (payloadVersion "1.0", instance Camera.SmartVisionData): the detection history
of a camera in the Alexa app. Discovery offers it where object detection is reported; ReportData
pages through what the reference ACCloud holds, DeleteData deletes there and answers only after
ACCloud confirmed. Every answer validates against the project schema (the runner), every
well-formed directive against the schema's directive definitions, and no log line carries a
detection id, an opaque identifier, a page token or a media URI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft4Validator

from devstack import demo_data, directives
from tests.alexa_schema import DATA_CONTROLLER_SCHEMA
from tests.smarthome.cases import Case, Expect, Hook, Payload, Send, World, capability, error
from tests.smarthome.conftest import invoke

NAMESPACE, VERSION, INSTANCE = directives.DATA_CONTROLLER
FRONT, BACK = demo_data.FRONT_DOOR, demo_data.BACK_YARD
CAMERA_IDS = {"Front Door": FRONT, "Back Yard": BACK, "Garage": demo_data.GARAGE}
BASE = datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp()  # detections are minutes before it

_schema = json.loads(DATA_CONTROLLER_SCHEMA.read_text())


def _validator(definition: str) -> Draft4Validator:
    return Draft4Validator({"definitions": _schema["definitions"], "$ref": f"#/definitions/{definition}"})


REPORT_DIRECTIVE = _validator("reportDataDirective")
DELETE_DIRECTIVE = _validator("deleteDataDirective")


def stamp(minutes_before: float) -> str:
    moment = datetime.fromtimestamp(BASE - 60 * minutes_before, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def span(start_minutes_before: float, end_minutes_before: float) -> dict[str, str]:
    return {"start": stamp(start_minutes_before), "end": stamp(end_minutes_before)}


# --- what ACCloud holds ---------------------------------------------------------------------------


def recorded(device_id: str, *minutes_before: float, object_class: str = "person") -> Hook:
    """Detections at ACCloud, kept in world.notes["recorded"][device_id] in the order made."""

    def record(world: World) -> None:
        made = world.notes.setdefault("recorded", {}).setdefault(device_id, [])
        for minutes in minutes_before:
            made.append(world.accloud.detections.record(device_id, object_class, BASE - 60 * minutes))

    return record


def newest(world: World, device_id: str, classes: tuple[str, ...] = ("person",)) -> list[str]:
    made = world.notes["recorded"][device_id]
    return [
        d.id for d in sorted(made, key=lambda d: d.occurred_at, reverse=True) if d.object_class in classes
    ]


def held(world: World, device_id: str) -> set[str]:
    return {d["id"] for d in world.accloud.detections_held(device_id)}


def both(*hooks: Hook) -> Hook:
    def run(world: World) -> None:
        for hook in hooks:
            hook(world)

    return run


# --- the skill's opaque forms ---------------------------------------------------------------------


def ref(world: World, device_id: str, detection_id: str) -> str:
    from skill.privacy import pseudonyms

    return pseudonyms.detection_ref(world.accloud.user_id("alice"), device_id, detection_id)


def opened(world: World, device_id: str, refs: list[str]) -> list[str]:
    from skill.privacy import pseudonyms

    owner = world.accloud.user_id("alice")
    return [pseudonyms.detection_id_for(owner, device_id, r) for r in refs]


def refs_of(device_id: str, pick: Callable[[list[str]], list[str]]) -> Callable[[World], list[str]]:
    """Opaque identifiers of some of the camera's detections (``pick`` from newest first)."""
    return lambda world: [ref(world, device_id, d) for d in pick(newest(world, device_id))]


def first_page(camera: str, payload: dict[str, Any]) -> Hook:
    """Alice's app asks for a first page; its nextToken goes to world.notes["nextToken"]."""

    def ask(world: World) -> None:
        event = directives.data_controller(
            "ReportData", world.tokens["alice"], world.endpoints[camera], payload
        )
        answer = invoke(event, world.schema, VERSION)
        world.notes["nextToken"] = answer["event"]["payload"]["paginationContext"]["nextToken"]

    return ask


def expired_token(world: World) -> None:
    """A real token for Front Door's first page of one, issued a moment past its lifetime ago."""
    from skill.privacy import page_tokens

    _, page = world.accloud.detections.list_page(FRONT, {"limit": "1"})
    world.notes["nextToken"] = page_tokens.seal(
        world.accloud.user_id("alice"),
        world.endpoint["endpointId"],
        page_tokens.Query(None, None, 1),
        page["next_cursor"],
        now=time.time() - page_tokens.TTL_SECONDS - 1,
    )


def with_token(**pagination: Any) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"paginationContext": {**pagination, "nextToken": world.notes["nextToken"]}}


def tampered(token: str) -> str:
    return token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]


# --- directives and answers -----------------------------------------------------------------------


def report(camera: str, payload: Payload = None, **send: Any) -> Send:
    return Send(
        NAMESPACE,
        "ReportData",
        camera=camera,
        payload=payload or {},
        payload_version=VERSION,
        instance=INSTANCE,
        **send,
    )


def delete(camera: str, payload: Payload, **send: Any) -> Send:
    return Send(
        NAMESPACE,
        "DeleteData",
        camera=camera,
        payload=payload,
        payload_version=VERSION,
        instance=INSTANCE,
        **send,
    )


def no_detection_data_logged(world: World) -> None:
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in world.caplog.records)
    for secret in ("det_", "d1_", "p1_", "/thumbs/", "cur_"):
        assert secret not in logged, secret


def answered_for(world: World) -> None:
    assert world.answer["event"]["header"]["instance"] == INSTANCE
    assert world.answer["event"]["endpoint"] == {"endpointId": world.endpoint["endpointId"]}
    no_detection_data_logged(world)


def page(expected: Callable[[World], list[str]], *, more: bool) -> Expect:
    """A DataReport listing ``expected`` (ACCloud ids, newest first) as opaque, owner-bound ids."""

    def check(world: World) -> None:
        REPORT_DIRECTIVE.validate(world.event)
        answered_for(world)
        device_id = CAMERA_IDS[world.camera or ""]
        payload = world.answer["event"]["payload"]
        assert payload["dataRetrievalSchema"] == {"type": "JSON", "schema": "SmartVisionData"}
        records = payload["data"]
        assert opened(world, device_id, [r["id"] for r in records]) == expected(world)
        by_id = {d.id: d for d in world.notes["recorded"][device_id]}
        for record, detection_id in zip(records, expected(world), strict=True):
            assert record["id"] == ref(world, device_id, detection_id)  # stable: Alexa deletes by it
            occurred = datetime.fromtimestamp(by_id[detection_id].occurred_at, UTC)
            assert datetime.fromisoformat(record["timeOfSample"].replace("Z", "+00:00")) == occurred
            assert record["imageNetClass"] == "person"
        assert not any(d in json.dumps(world.answer) for d in by_id)  # ACCloud's ids never reach Alexa
        assert ("paginationContext" in payload) is more

    return Expect("DataReport", NAMESPACE, payload_version=VERSION, check=check)


def deleted(device_id: str, gone: Callable[[World], list[str]], left: Callable[[World], list[str]]) -> Expect:
    """A DeleteDataResponse naming exactly what ACCloud no longer holds."""

    def check(world: World) -> None:
        DELETE_DIRECTIVE.validate(world.event)
        answered_for(world)
        answered = world.answer["event"]["payload"]["deleted"]
        assert sorted(opened(world, device_id, answered)) == sorted(gone(world))
        assert held(world, device_id) == set(left(world))

    return Expect("DeleteDataResponse", NAMESPACE, payload_version=VERSION, check=check)


def refused(type_: str, *, then: Hook | None = None) -> Expect:
    def check(world: World) -> None:
        assert "instance" not in world.answer["event"]["header"]  # as Amazon's ErrorResponse example
        no_detection_data_logged(world)
        if then is not None:
            then(world)

    return error(type_, namespace=NAMESPACE, payload_version=VERSION, check=check)


def unchanged(*device_ids: str) -> Hook:
    """Nothing deleted at ACCloud and no delete call made."""

    def check(world: World) -> None:
        for device_id in device_ids:
            assert held(world, device_id) == {d.id for d in world.notes["recorded"][device_id]}
            assert f"POST /v1/devices/{device_id}/detections/delete" not in world.accloud.request_counts()

    return check


def counted(world: World) -> None:
    world.accloud.reset_request_counts()


def fault(kind: str, value: float | None = None) -> Hook:
    return lambda world: world.accloud.set_fault(kind, value, path_prefix=f"/v1/devices/{FRONT}/detections")


def message_says(text: str) -> Hook:
    def check(world: World) -> None:
        assert text in world.answer["event"]["payload"]["message"]

    return check


# --- discovery ------------------------------------------------------------------------------------

EXPECTED_ENTRY = {
    "type": "AlexaInterface",
    "interface": NAMESPACE,
    "instance": INSTANCE,
    "version": "1.0",
    "configuration": {
        "targetCapability": {"name": "Alexa.SmartVision.ObjectDetectionSensor", "version": "1.0"},
        "dataRetrievalSchema": {"type": "JSON", "schema": "SmartVisionData"},
        "supportedAccess": ["BY_IDENTIFIER", "BY_TIMESTAMP_RANGE"],
    },
}


def history_offered_where_detection_is(world: World) -> None:
    found = {e["friendlyName"]: e for e in world.answer["event"]["payload"]["endpoints"]}
    for name in ("Front Door", "Back Yard"):  # person detection: the classes in effect are ["person"]
        assert capability(found[name], NAMESPACE) == EXPECTED_ENTRY
    garage = [c["interface"] for c in found["Garage"]["capabilities"]]
    assert NAMESPACE not in garage and "Alexa.SmartVision.ObjectDetectionSensor" not in garage


def _header(**fields: Any) -> Callable[[dict[str, Any]], object]:
    return lambda e: e["directive"]["header"].update(fields)


THREE = recorded(FRONT, 30, 20, 10)

CASES = [
    Case(
        "discovery offers history on cameras reporting object detection only",
        Send("Alexa.Discovery", "Discover"),
        Expect("Discover.Response", "Alexa.Discovery", check=history_offered_where_detection_is),
    ),
    # --- ReportData
    Case(
        "one page holds everything",
        report("Front Door"),
        page(lambda w: newest(w, FRONT), more=False),
        given=THREE,
    ),
    Case(
        "an empty history",
        report("Back Yard"),
        Expect("DataReport", NAMESPACE, payload_version=VERSION, fields={"event/payload/data": []}),
    ),
    Case(
        "the first page of two",
        report("Front Door", {"paginationContext": {"maxResults": 2}}),
        page(lambda w: newest(w, FRONT)[:2], more=True),
        given=THREE,
    ),
    Case(
        "the second page through the nextToken",
        report("Front Door", with_token(maxResults=2)),
        page(lambda w: newest(w, FRONT)[2:], more=False),
        given=both(THREE, first_page("Front Door", {"paginationContext": {"maxResults": 2}})),
    ),
    Case(
        "the second page without restating the query",
        report("Front Door", with_token()),
        page(lambda w: newest(w, FRONT)[2:], more=False),
        given=both(THREE, first_page("Front Door", {"paginationContext": {"maxResults": 2}})),
    ),
    Case(
        "a time range",
        report("Front Door", {"timeRange": span(25, 5)}),
        page(lambda w: newest(w, FRONT)[:2], more=False),
        given=THREE,
    ),
    Case(
        "a time range, paged",
        report("Front Door", with_token(maxResults=1)),
        page(lambda w: newest(w, FRONT)[1:2], more=False),
        given=both(
            THREE,
            first_page("Front Door", {"timeRange": span(25, 5), "paginationContext": {"maxResults": 1}}),
        ),
    ),
    Case(
        "only the classes in effect are reported",
        report("Front Door"),
        page(lambda w: newest(w, FRONT), more=False),
        given=both(THREE, recorded(FRONT, 15, object_class="vehicle")),
    ),
    Case(
        "maxResults above ACCloud's page is capped",
        report("Front Door", {"paginationContext": {"maxResults": 1000}}),
        page(lambda w: newest(w, FRONT), more=False),
        given=THREE,
    ),
    Case(
        "a nextToken for another query",
        report("Front Door", with_token(maxResults=3)),
        refused("INVALID_VALUE", then=message_says("another query")),
        given=both(THREE, first_page("Front Door", {"paginationContext": {"maxResults": 2}})),
    ),
    Case(
        "a nextToken for another time range",
        report("Front Door", lambda w: {"timeRange": span(40, 5), **with_token(maxResults=1)(w)}),
        refused("INVALID_VALUE"),
        given=both(
            THREE,
            first_page("Front Door", {"timeRange": span(25, 5), "paginationContext": {"maxResults": 1}}),
        ),
    ),
    Case(
        "a nextToken of another camera",
        report("Front Door", with_token(maxResults=1)),
        refused("INVALID_VALUE"),
        given=both(recorded(BACK, 3, 2), first_page("Back Yard", {"paginationContext": {"maxResults": 1}})),
    ),
    Case(
        "a tampered nextToken",
        report(
            "Front Door",
            lambda w: {"paginationContext": {"maxResults": 2, "nextToken": tampered(w.notes["nextToken"])}},
        ),
        refused("INVALID_VALUE"),
        given=both(THREE, first_page("Front Door", {"paginationContext": {"maxResults": 2}})),
    ),
    Case(
        "an expired nextToken",
        report("Front Door", with_token(maxResults=1)),
        refused("INVALID_VALUE"),
        given=both(THREE, expired_token),
    ),
    Case(
        "a made-up nextToken",
        report("Front Door", {"paginationContext": {"nextToken": "p1_AAAA"}}),
        refused("INVALID_VALUE"),
        given=THREE,
    ),
    Case("a camera without object detection", report("Garage"), refused("DATA_RETRIEVAL_NOT_SUPPORTED")),
    Case(
        "someone else's camera", report("Front Door", caller="bob"), refused("NO_SUCH_ENDPOINT"), given=THREE
    ),
    Case(
        "ACCloud failing",
        report("Front Door"),
        refused("BRIDGE_UNREACHABLE"),
        given=both(THREE, fault("status", 503)),
    ),
    Case(
        "ACCloud's page unreadable",
        report("Front Door"),
        refused("BRIDGE_UNREACHABLE"),
        given=both(THREE, fault("malformed")),
    ),
    *(
        Case(f"malformed ReportData: {label}", report("Front Door", payload, mutate=mutate), refused(type_))
        for label, payload, mutate, type_ in [
            ("no instance", {}, lambda e: e["directive"]["header"].pop("instance"), "INVALID_DIRECTIVE"),
            ("another instance", {}, _header(instance="Camera.Recordings"), "INVALID_DIRECTIVE"),
            ("payloadVersion 3", {}, _header(payloadVersion="3"), "INVALID_DIRECTIVE"),
            ("unknown directive", {}, _header(name="ReportEverything"), "INVALID_DIRECTIVE"),
            ("range backwards", {"timeRange": span(5, 25)}, None, "INVALID_VALUE"),
            ("range without end", {"timeRange": {"start": stamp(5)}}, None, "INVALID_DIRECTIVE"),
            (
                "range in local time",
                {"timeRange": {"start": "2026-12-07T10:00:00+01:00", "end": stamp(0)}},
                None,
                "INVALID_DIRECTIVE",
            ),
            (
                "no such day",
                {"timeRange": {"start": "2026-02-30T10:00:00Z", "end": stamp(0)}},
                None,
                "INVALID_DIRECTIVE",
            ),
            ("maxResults 0", {"paginationContext": {"maxResults": 0}}, None, "INVALID_DIRECTIVE"),
            ("maxResults true", {"paginationContext": {"maxResults": True}}, None, "INVALID_DIRECTIVE"),
            ("nextToken a number", {"paginationContext": {"nextToken": 7}}, None, "INVALID_VALUE"),
        ]
    ),
    # --- DeleteData
    Case(
        "delete one detection",
        delete("Front Door", lambda w: {"identifiers": refs_of(FRONT, lambda ids: ids[:1])(w)}),
        deleted(FRONT, lambda w: newest(w, FRONT)[:1], lambda w: newest(w, FRONT)[1:]),
        given=THREE,
    ),
    Case(
        "delete all three by identifier",
        delete("Front Door", lambda w: {"identifiers": refs_of(FRONT, lambda ids: ids)(w)}),
        deleted(FRONT, lambda w: newest(w, FRONT), lambda w: []),
        given=THREE,
    ),
    Case(
        "delete a time range",
        delete("Front Door", {"timeRange": span(25, 5)}),
        deleted(FRONT, lambda w: newest(w, FRONT)[:2], lambda w: newest(w, FRONT)[2:]),
        given=THREE,
    ),
    Case(
        "delete an empty time range",
        delete("Front Door", {"timeRange": span(60, 45)}),
        deleted(FRONT, lambda w: [], lambda w: newest(w, FRONT)),
        given=THREE,
    ),
    Case(
        "a partial deletion is no success",
        delete("Front Door", lambda w: {"identifiers": refs_of(FRONT, lambda ids: ids[:2])(w)}),
        refused(
            "INVALID_VALUE",
            then=both(
                message_says("1 of 2 confirmed deleted"), lambda w: _left(w, FRONT, newest(w, FRONT)[2:])
            ),
        ),
        given=both(THREE, lambda w: w.accloud.detections.remove(FRONT, newest(w, FRONT)[:1])),
    ),
    Case(
        "an identifier of another camera deletes nothing",
        delete(
            "Front Door",
            lambda w: {
                "identifiers": [*refs_of(FRONT, lambda ids: ids[:1])(w), *refs_of(BACK, lambda ids: ids)(w)]
            },
        ),
        refused("INVALID_VALUE", then=unchanged(FRONT, BACK)),
        given=both(THREE, recorded(BACK, 4), counted),
    ),
    Case(
        "a tampered identifier deletes nothing",
        delete(
            "Front Door",
            lambda w: {"identifiers": [tampered(r) for r in refs_of(FRONT, lambda ids: ids[:1])(w)]},
        ),
        refused("INVALID_VALUE", then=unchanged(FRONT)),
        given=both(THREE, counted),
    ),
    Case(
        "ACCloud's raw id deletes nothing",
        delete("Front Door", lambda w: {"identifiers": newest(w, FRONT)[:1]}),
        refused("INVALID_VALUE", then=unchanged(FRONT)),
        given=both(THREE, counted),
    ),
    Case(
        "ACCloud failing deletes nothing and says so",
        delete("Front Door", lambda w: {"identifiers": refs_of(FRONT, lambda ids: ids[:1])(w)}),
        refused("BRIDGE_UNREACHABLE", then=lambda w: _left(w, FRONT, newest(w, FRONT))),
        given=both(THREE, fault("status", 503)),
    ),
    Case(
        "ACCloud's confirmation unreadable is no success",
        delete("Front Door", lambda w: {"identifiers": refs_of(FRONT, lambda ids: ids[:1])(w)}),
        refused("BRIDGE_UNREACHABLE"),
        given=both(THREE, fault("malformed")),
    ),
    Case(
        "delete on a camera without object detection",
        delete("Garage", {"timeRange": span(25, 5)}),
        refused("DATA_DELETION_NOT_SUPPORTED"),
    ),
    Case(
        "delete on someone else's camera",
        delete("Front Door", {"timeRange": span(25, 5)}, caller="bob"),
        refused("NO_SUCH_ENDPOINT", then=unchanged(FRONT)),
        given=both(THREE, counted),
    ),
    *(
        Case(
            f"malformed DeleteData: {label}",
            delete("Front Door", payload),
            refused(type_, then=unchanged(FRONT)),
            given=both(THREE, counted),
        )
        for label, payload, type_ in [
            ("nothing named", {}, "INVALID_DIRECTIVE"),
            (
                "identifiers and a range",
                lambda w: {"identifiers": refs_of(FRONT, lambda ids: ids[:1])(w), "timeRange": span(25, 5)},
                "INVALID_DIRECTIVE",
            ),
            ("no identifiers", {"identifiers": []}, "INVALID_DIRECTIVE"),
            ("101 identifiers", {"identifiers": [f"d1_{i}" for i in range(101)]}, "INVALID_DIRECTIVE"),
            ("an identifier not a string", {"identifiers": [7]}, "INVALID_DIRECTIVE"),
            ("range backwards", {"timeRange": span(5, 25)}, "INVALID_VALUE"),
        ]
    ),
]


def _left(world: World, device_id: str, expected: list[str]) -> None:
    assert held(world, device_id) == set(expected)
