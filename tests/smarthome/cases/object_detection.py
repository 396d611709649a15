"""Alexa.SmartVision.ObjectDetectionSensor.SetObjectDetectionClasses (payloadVersion "1.0"): the Alexa
app's "which objects to notify about" choice. Accepted classes are reported in an Alexa.Response,
classes the camera cannot detect refused with the interface's own error; malformed directives get
Alexa's generic one. Every well-formed directive sent is checked against the schema's directive
definition too."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from jsonschema import Draft4Validator

from devstack import demo_data
from tests.alexa_schema import SMARTVISION_SCHEMA
from tests.smarthome.cases import Case, Expect, Send, World, error

NAMESPACE = "Alexa.SmartVision.ObjectDetectionSensor"
NAME = "SetObjectDetectionClasses"
VERSION = "1.0"  # the interface's version, not "3"

_schema = json.loads(SMARTVISION_SCHEMA.read_text())
DIRECTIVE_SCHEMA = Draft4Validator(
    {"definitions": _schema["definitions"], "$ref": "#/definitions/setObjectDetectionClassesDirective"}
)


def classes(*names: str) -> list[dict[str, str]]:
    return [{"imageNetClass": n} for n in names]


def set_classes(camera: str, requested: Any, caller: str = "alice", **send: Any) -> Send:
    return Send(
        NAMESPACE,
        NAME,
        camera=camera,
        caller=caller,
        payload={"objectDetectionClasses": requested},
        payload_version=VERSION,
        **send,
    )


def table_items() -> list[dict[str, Any]]:
    from skill import aws
    from skill.config import settings

    items: list[dict[str, Any]] = aws.client("dynamodb").scan(TableName=settings().table_name)["Items"]
    return items


def remember_the_table(world: World) -> None:
    world.notes["stored"] = table_items()


def accepted(in_effect: list[str]) -> Expect:
    def check(world: World) -> None:
        DIRECTIVE_SCHEMA.validate(world.event)
        assert world.answer["event"]["endpoint"] == {"endpointId": world.endpoint["endpointId"]}
        assert world.answer["event"]["payload"] == {}
        (prop,) = world.answer["context"]["properties"]
        assert (prop["namespace"], prop["name"]) == (NAMESPACE, "objectDetectionClasses")
        assert prop["value"] == classes(*in_effect)
        assert table_items() == world.notes["stored"]  # nothing new is stored

    return Expect(check=check)


def refused(refused_classes: list[str], in_effect: list[str]) -> Expect:
    def check(world: World) -> None:
        DIRECTIVE_SCHEMA.validate(world.event)
        assert world.answer["event"]["endpoint"] == {"endpointId": world.endpoint["endpointId"]}
        payload = world.answer["event"]["payload"]
        assert payload["errorClasses"] == classes(*refused_classes)
        assert payload["objectDetectionClasses"] == classes(*in_effect)
        assert "context" not in world.answer

    return error("INVALID_VALUE", namespace=NAMESPACE, payload_version=VERSION, check=check)


# camera, requested classes -> the classes in effect reported in the Alexa.Response
ACCEPTED = [
    ("Front Door", ["person"], ["person"]),
    ("Back Yard", ["person"], ["person"]),
    # Nothing can be switched off: ACCloud has no such setting, so the answer says what stays on.
    ("Front Door", [], ["person"]),
    # A camera without person detection detects nothing; asking for nothing is already true.
    ("Garage", [], []),
]

# camera, requested classes -> the refused classes, the classes in effect
REFUSED = [
    ("Front Door", ["package"], ["package"], ["person"]),
    ("Back Yard", ["person", "package", "vehicle"], ["package", "vehicle"], ["person"]),
    ("Garage", ["person"], ["person"], []),  # no person detection: nothing can be enabled
    ("Garage", ["person", "package"], ["person", "package"], []),
]


def _header(**fields: Any) -> Callable[[dict[str, Any]], object]:
    return lambda e: e["directive"]["header"].update(fields)


def _payload(value: Any) -> Callable[[dict[str, Any]], object]:
    return lambda e: e["directive"].update(payload=value)


# mutation of a valid directive to Front Door -> the Alexa.ErrorResponse type (payloadVersion "3")
MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "payloadVersion 3": (_header(payloadVersion="3"), "INVALID_DIRECTIVE"),
    "payloadVersion 2": (_header(payloadVersion="2"), "INVALID_DIRECTIVE"),
    "payloadVersion 1": (_header(payloadVersion="1"), "INVALID_DIRECTIVE"),
    "payloadVersion missing": (lambda e: e["directive"]["header"].pop("payloadVersion"), "INVALID_DIRECTIVE"),
    "other directive name": (_header(name="SetObjectClasses"), "INVALID_DIRECTIVE"),
    "classes missing": (_payload({}), "INVALID_DIRECTIVE"),
    "classes not a list": (_payload({"objectDetectionClasses": "person"}), "INVALID_DIRECTIVE"),
    "plain strings": (_payload({"objectDetectionClasses": ["person"]}), "INVALID_DIRECTIVE"),
    "entry without a class": (_payload({"objectDetectionClasses": [{}]}), "INVALID_DIRECTIVE"),
    "class not a string": (_payload({"objectDetectionClasses": [{"imageNetClass": 7}]}), "INVALID_DIRECTIVE"),
    "class with markup": (_payload({"objectDetectionClasses": classes("person<b>")}), "INVALID_DIRECTIVE"),
    "class too long": (_payload({"objectDetectionClasses": classes("p" * 65)}), "INVALID_DIRECTIVE"),
    "65 classes": (
        _payload({"objectDetectionClasses": classes(*(f"class{i}" for i in range(65)))}),
        "INVALID_DIRECTIVE",
    ),
    "no bearer token": (lambda e: e["directive"]["endpoint"].pop("scope"), "INVALID_DIRECTIVE"),
    "unknown endpoint": (
        lambda e: e["directive"]["endpoint"].update(endpointId="z1_bogus"),
        "NO_SUCH_ENDPOINT",
    ),
}

CASES = [
    *(
        Case(
            f"classes accepted: {camera} {requested}",
            set_classes(camera, classes(*requested)),
            accepted(in_effect),
            given=remember_the_table,
        )
        for camera, requested, in_effect in ACCEPTED
    ),
    *(
        Case(
            f"classes refused: {camera} {requested}",
            set_classes(camera, classes(*requested)),
            refused(wrong, in_effect),
        )
        for camera, requested, wrong, in_effect in REFUSED
    ),
    # Ownership first (was INVALID_VALUE / INVALID_DIRECTIVE for Alice's camera, asked by Bob).
    *(
        Case(
            f"someone else's camera, classes {label}",
            set_classes("Front Door", requested, caller="bob"),
            error("NO_SUCH_ENDPOINT"),
        )
        for label, requested in [
            ("package", classes("package")),
            ("all", "all"),
            ("Nope!", [{"imageNetClass": "Nope!"}]),
        ]
    ),
    Case(
        "another user's camera",
        set_classes("Front Door", classes("person"), caller="bob"),
        error("NO_SUCH_ENDPOINT"),
    ),
    Case(
        "a removed camera",
        set_classes("Front Door", classes("person")),
        error("NO_SUCH_ENDPOINT"),
        given=lambda world: world.accloud.remove_device(demo_data.FRONT_DOOR),
    ),
    # Not what Alexa sends (so not schema-checked as a directive), but harmless: case and repeats.
    *(
        Case(
            f"tolerated spelling {requested}",
            set_classes("Front Door", classes(*requested)),
            Expect(fields={"context/properties/0/value": classes("person")}),
        )
        for requested in [["Person"], ["PERSON"], ["person", "person"], ["person", "Person"]]
    ),
    *(
        Case(
            f"malformed: {label}",
            set_classes("Front Door", classes("person"), mutate=mutate),
            error(error_type),
        )
        for label, (mutate, error_type) in MALFORMED.items()
    ),
]
