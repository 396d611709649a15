"""The schema oracle really checks the SmartVision messages: an answer to SetObjectDetectionClasses,
broken one field at a time, fails Amazon's schema plus the project's SmartVision schema. The directive
itself is a case table (tests/smarthome/cases/object_detection.py)."""

from __future__ import annotations

from typing import Any

import pytest

from devstack import directives
from tests.smarthome.cases.object_detection import NAME, NAMESPACE, VERSION, classes
from tests.smarthome.conftest import discover, invoke


def set_classes(tokens: dict[str, str], alexa_schema: Any, camera: str) -> dict[str, Any]:
    endpoint = discover(tokens["alice"], alexa_schema)[camera]
    payload = {"objectDetectionClasses": classes("person")}
    event = directives.directive(
        NAMESPACE, NAME, tokens["alice"], endpoint=endpoint, payload=payload, payload_version=VERSION
    )
    answer_version = "3" if camera == "Front Door" else VERSION  # accepted: Alexa.Response; refused: its own
    return invoke(event, alexa_schema, answer_version)


def _accepted(tokens: dict[str, str], alexa_schema: Any) -> dict[str, Any]:
    return set_classes(tokens, alexa_schema, "Front Door")


def _refused(tokens: dict[str, str], alexa_schema: Any) -> dict[str, Any]:
    return set_classes(tokens, alexa_schema, "Garage")  # no person detection


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
    answer = build(tokens, alexa_schema)
    mutate(answer)
    assert alexa_schema.errors(answer)
