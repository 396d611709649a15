"""Directive.parse (skill/alexa/directive.py): the payloadVersion belongs to the interface, and a
header that is not text is an invalid directive, not a crash."""

from __future__ import annotations

from typing import Any

import pytest

from skill.alexa.directive import Directive
from skill.alexa.errors import InvalidDirective

NAMESPACE = "Alexa.SmartVision.ObjectDetectionSensor"
NAME = "SetObjectDetectionClasses"


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
