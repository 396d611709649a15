"""Alexa.SmartVision.ObjectDetectionSensor.SetObjectDetectionClasses through lambda_handler.handler and
the reference ACCloud: the Alexa app's "which objects to notify about" choice.

Every answer is validated against Amazon's schema plus the project's SmartVision schema; every
well-formed directive the tests send is validated against the schema's directive definition first.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from jsonschema import Draft4Validator

import lambda_handler
from devstack import demo_data
from skill import aws
from skill.alexa.directive import Directive
from skill.alexa.errors import InvalidDirective
from skill.config import settings
from tests.alexa_schema import SMARTVISION_SCHEMA, AlexaSchema
from tests.smarthome.conftest import directive, discover

NAMESPACE = "Alexa.SmartVision.ObjectDetectionSensor"
NAME = "SetObjectDetectionClasses"

_schema = json.loads(SMARTVISION_SCHEMA.read_text())
DIRECTIVE_SCHEMA = Draft4Validator(
    {"definitions": _schema["definitions"], "$ref": "#/definitions/setObjectDetectionClassesDirective"}
)


def classes(*names: str) -> list[dict[str, str]]:
    return [{"imageNetClass": n} for n in names]


def set_classes_directive(token: str, endpoint: dict[str, Any], requested: Any) -> dict[str, Any]:
    event = directive(
        NAMESPACE,
        NAME,
        token,
        endpoint_id=endpoint["endpointId"],
        cookie=endpoint.get("cookie"),
        payload={"objectDetectionClasses": requested},
    )
    event["directive"]["header"]["payloadVersion"] = "1.0"  # the interface's version, not "3"
    return event


def send(event: dict[str, Any], schema: AlexaSchema) -> dict[str, Any]:
    """The handler's answer, valid Alexa, echoing the correlationToken, with a UUID4 messageId."""
    answer = lambda_handler.handler(event, None)
    schema.assert_valid(answer)
    header = answer["event"]["header"]
    assert header["correlationToken"] == event["directive"]["header"]["correlationToken"]
    uuid.UUID(header["messageId"], version=4)
    return answer


def table_items() -> list[dict[str, Any]]:
    return aws.client("dynamodb").scan(TableName=settings().table_name)["Items"]


# --- the directive ---------------------------------------------------------------------------------

# camera, requested classes -> the classes in effect reported in the Alexa.Response
ACCEPTED = [
    ("Front Door", ["person"], ["person"]),
    ("Back Yard", ["person"], ["person"]),
    # Nothing can be switched off: ACCloud has no such setting, so the answer says what stays on.
    ("Front Door", [], ["person"]),
    # A camera without person detection detects nothing; asking for nothing is already true.
    ("Garage", [], []),
]


@pytest.mark.parametrize(("camera", "requested", "in_effect"), ACCEPTED)
def test_classes_the_camera_detects_are_accepted(
    accloud, tokens, alexa_schema, camera, requested, in_effect
) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)[camera]
    event = set_classes_directive(tokens["alice"], endpoint, classes(*requested))
    DIRECTIVE_SCHEMA.validate(event)
    stored_before = table_items()

    answer = send(event, alexa_schema)

    header = answer["event"]["header"]
    assert (header["namespace"], header["name"], header["payloadVersion"]) == ("Alexa", "Response", "3")
    assert answer["event"]["endpoint"] == {"endpointId": endpoint["endpointId"]}
    assert answer["event"]["payload"] == {}
    (prop,) = answer["context"]["properties"]
    assert (prop["namespace"], prop["name"]) == (NAMESPACE, "objectDetectionClasses")
    assert prop["value"] == classes(*in_effect)
    assert table_items() == stored_before  # nothing new is stored


# camera, requested classes -> the refused classes, the classes in effect
REFUSED = [
    ("Front Door", ["package"], ["package"], ["person"]),
    ("Back Yard", ["person", "package", "vehicle"], ["package", "vehicle"], ["person"]),
    ("Garage", ["person"], ["person"], []),  # no person detection: nothing can be enabled
    ("Garage", ["person", "package"], ["person", "package"], []),
]


@pytest.mark.parametrize(("camera", "requested", "refused", "in_effect"), REFUSED)
def test_classes_the_camera_cannot_detect_are_refused_with_the_interfaces_error(
    accloud, tokens, alexa_schema, camera, requested, refused, in_effect
) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)[camera]
    event = set_classes_directive(tokens["alice"], endpoint, classes(*requested))
    DIRECTIVE_SCHEMA.validate(event)

    answer = send(event, alexa_schema)

    header = answer["event"]["header"]
    assert (header["namespace"], header["name"]) == (NAMESPACE, "ErrorResponse")
    assert header["payloadVersion"] == "1.0"
    assert answer["event"]["endpoint"] == {"endpointId": endpoint["endpointId"]}
    payload = answer["event"]["payload"]
    assert payload["type"] == "INVALID_VALUE"
    assert payload["errorClasses"] == classes(*refused)
    assert payload["objectDetectionClasses"] == classes(*in_effect)
    assert "context" not in answer


@pytest.mark.parametrize("requested", [classes("package"), "all", [{"imageNetClass": "Nope!"}]])
def test_someone_elses_camera_is_no_such_endpoint_whatever_the_payload(
    accloud, tokens, alexa_schema, requested
) -> None:
    """Ownership first (was INVALID_VALUE / INVALID_DIRECTIVE for Alice's camera, asked by Bob)."""
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    answer = send(set_classes_directive(tokens["bob"], endpoint, requested), alexa_schema)
    assert answer["event"]["header"]["name"] == "ErrorResponse"
    assert answer["event"]["payload"]["type"] == "NO_SUCH_ENDPOINT"


@pytest.mark.parametrize("requested", [["Person"], ["PERSON"], ["person", "person"], ["person", "Person"]])
def test_tolerated_spellings(accloud, tokens, alexa_schema, requested) -> None:
    """Not what Alexa sends (so not schema-checked as a directive), but harmless: case and repeats."""
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    answer = send(set_classes_directive(tokens["alice"], endpoint, classes(*requested)), alexa_schema)
    assert answer["context"]["properties"][0]["value"] == classes("person")


def _header(**fields: Any):
    return lambda e: e["directive"]["header"].update(fields)


def _endpoint_id(value: str):
    return lambda e: e["directive"]["endpoint"].update(endpointId=value)


def _payload(value: Any):
    return lambda e: e["directive"].update(payload=value)


# mutation of a valid directive to Front Door -> the Alexa.ErrorResponse type
MALFORMED = {
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
    "unknown endpoint": (_endpoint_id("z1_bogus"), "NO_SUCH_ENDPOINT"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_directives_get_the_generic_error(accloud, tokens, alexa_schema, case) -> None:
    mutate, error_type = MALFORMED[case]
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    event = set_classes_directive(tokens["alice"], endpoint, classes("person"))
    mutate(event)

    answer = send(event, alexa_schema)

    header = answer["event"]["header"]
    assert (header["namespace"], header["name"], header["payloadVersion"]) == ("Alexa", "ErrorResponse", "3")
    assert answer["event"]["payload"]["type"] == error_type


def test_another_users_camera_is_no_such_endpoint(accloud, tokens, alexa_schema) -> None:
    alices = discover(tokens["alice"], alexa_schema)["Front Door"]
    answer = send(set_classes_directive(tokens["bob"], alices, classes("person")), alexa_schema)
    assert answer["event"]["payload"]["type"] == "NO_SUCH_ENDPOINT"


def test_a_removed_camera_is_no_such_endpoint(accloud, tokens, alexa_schema) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    accloud.remove_device(demo_data.FRONT_DOOR)
    answer = send(set_classes_directive(tokens["alice"], endpoint, classes("person")), alexa_schema)
    assert answer["event"]["payload"]["type"] == "NO_SUCH_ENDPOINT"


# --- payloadVersion "1.0" belongs to this interface only -------------------------------------------


def _envelope(namespace: str, name: str, version: str) -> dict[str, Any]:
    header = {"namespace": namespace, "name": name, "payloadVersion": version, "messageId": "m-1"}
    return {"directive": {"header": header, "payload": {}}}


# namespace, name, payloadVersion -> parses?
PAYLOAD_VERSIONS = [
    (NAMESPACE, NAME, "1.0", True),
    (NAMESPACE, NAME, "3", False),
    (NAMESPACE, NAME, "1", False),
    ("Alexa", "ReportState", "3", True),
    ("Alexa", "ReportState", "1.0", False),
    ("Alexa.CameraStreamController", "InitializeCameraStreams", "1.0", False),
    ("Alexa.Discovery", "Discover", "1.0", False),
    ("Alexa.SmartVision.SnapshotProvider", "GetSnapshot", "1.0", False),
]


@pytest.mark.parametrize(("namespace", "name", "version", "parses"), PAYLOAD_VERSIONS)
def test_payload_version_per_interface(namespace, name, version, parses) -> None:
    envelope = _envelope(namespace, name, version)
    if parses:
        assert Directive.parse(envelope).key == (namespace, name)
    else:
        with pytest.raises(InvalidDirective):
            Directive.parse(envelope)


def test_a_namespace_that_is_not_text_is_invalid_not_a_crash() -> None:
    envelope = _envelope(NAMESPACE, NAME, "1.0")
    envelope["directive"]["header"]["namespace"] = ["Alexa"]
    with pytest.raises(InvalidDirective):
        Directive.parse(envelope)


# --- the schema oracle really checks the new messages ----------------------------------------------


def _accepted(accloud, tokens, alexa_schema) -> dict[str, Any]:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    return send(set_classes_directive(tokens["alice"], endpoint, classes("person")), alexa_schema)


def _refused(accloud, tokens, alexa_schema) -> dict[str, Any]:
    endpoint = discover(tokens["alice"], alexa_schema)["Garage"]
    return send(set_classes_directive(tokens["alice"], endpoint, classes("person")), alexa_schema)


def _at(path: str, value: Any):
    def mutate(message: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = message
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


# answer builder, mutation -> the schemas must reject the result
BROKEN_ANSWERS = {
    "response: class in capitals": (_accepted, _at("context/properties/0/value/0/imageNetClass", "PERSON")),
    "response: value not a list": (_accepted, _at("context/properties/0/value", {"imageNetClass": "person"})),
    "response: image in a class": (
        _accepted,
        _at("context/properties/0/value/0/imageUri", "https://x.test/a"),
    ),
    "response: other property name": (_accepted, _at("context/properties/0/name", "detectionClasses")),
    "response: no timeOfSample": (_accepted, lambda m: m["context"]["properties"][0].pop("timeOfSample")),
    "response: payloadVersion 1.0": (_accepted, _at("event/header/payloadVersion", "1.0")),
    "error: payloadVersion 3": (_refused, _at("event/header/payloadVersion", "3")),
    "error: unknown type": (_refused, _at("event/payload/type", "NOT_A_TYPE")),
    "error: no message": (_refused, lambda m: m["event"]["payload"].pop("message")),
    "error: class in capitals": (_refused, _at("event/payload/errorClasses/0/imageNetClass", "PERSON")),
    "error: extra payload field": (_refused, _at("event/payload/detail", "x")),
    "error: no endpoint": (_refused, lambda m: m["event"].pop("endpoint")),
    "error: no correlationToken": (_refused, lambda m: m["event"]["header"].pop("correlationToken")),
}


@pytest.mark.parametrize("case", list(BROKEN_ANSWERS), ids=list(BROKEN_ANSWERS))
def test_schemas_reject_broken_answers(accloud, tokens, alexa_schema, case) -> None:
    build, mutate = BROKEN_ANSWERS[case]
    answer = build(accloud, tokens, alexa_schema)
    mutate(answer)
    assert alexa_schema.errors(answer)
