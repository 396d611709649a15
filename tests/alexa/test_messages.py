"""One home for Alexa envelopes: only skill/alexa/messages.py writes a header, capabilities carry
their own versions and properties, and every proactive event takes its version from its capability."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from skill.alexa import capabilities, directive, errors
from skill.cloud.contract import Device
from skill.proactive import events

REPO = Path(__file__).resolve().parents[2]
ENVELOPE_KEYS = frozenset({"payloadVersion", "messageId", "correlationToken"})
AT = datetime(2026, 3, 1, 12, 0, 5, 250_000, tzinfo=UTC)
ENDPOINT = "z1_" + "A" * 40


def _shipped() -> list[Path]:
    return sorted(p for package in ("skill", "models") for p in (REPO / package).rglob("*.py"))


def _writes_envelope_key(node: ast.AST) -> bool:
    """A dict literal with an envelope key, or an assignment to one (``header["payloadVersion"] = ...``)."""
    if isinstance(node, ast.Dict):
        return any(isinstance(k, ast.Constant) and k.value in ENVELOPE_KEYS for k in node.keys)
    if isinstance(node, ast.Assign):
        return any(
            isinstance(t, ast.Subscript)
            and isinstance(t.slice, ast.Constant)
            and t.slice.value in ENVELOPE_KEYS
            for t in node.targets
        )
    return False


def test_only_messages_writes_an_envelope_header() -> None:
    writers = {
        str(path.relative_to(REPO))
        for path in _shipped()
        for node in ast.walk(ast.parse(path.read_text()))
        if _writes_envelope_key(node)
    }
    assert writers == {"skill/alexa/messages.py"}


def test_smartvision_version_is_written_once_on_its_capability() -> None:
    # skill/voice's "1.0" is the custom skill's response format version, another vocabulary.
    places = [
        str(path.relative_to(REPO))
        for path in _shipped()
        if not path.is_relative_to(REPO / "skill" / "voice")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value == "1.0"
    ]
    # Each interface's own version ("1.0": SmartVision, DataController) is written on its capability only.
    assert set(places) == {"skill/alexa/capabilities.py"}


def test_the_smartvision_messages_take_their_version_from_the_capability() -> None:
    sensor = capabilities.OBJECT_DETECTION_SENSOR
    message = events.object_detection(ENDPOINT, "det-1", AT)("token")
    assert message["event"]["header"]["namespace"] == sensor.interface
    assert message["event"]["header"]["payloadVersion"] == sensor.version
    assert directive.expected_payload_version(sensor.interface) == sensor.version
    assert errors.ObjectClassesNotEnabled("x", rejected=[], in_effect=[]).payload_version == sensor.version
    assert sensor.discovery(_device())["version"] == sensor.version


def test_every_other_event_is_payload_version_3() -> None:
    builders = [
        events.doorbell_press(ENDPOINT, AT),
        events.motion_change(ENDPOINT, True, AT, AT),
        events.connectivity_change(ENDPOINT, False, AT),
        events.add_or_update_report([]),
    ]
    assert [b("token")["event"]["header"]["payloadVersion"] for b in builders] == ["3"] * 4


def test_report_state_and_change_report_carry_the_same_connectivity_property() -> None:
    device = _device(online=False)
    reported = capabilities.ENDPOINT_HEALTH.state(device, AT)
    changed = events.connectivity_change(ENDPOINT, False, AT)("token")["event"]["payload"]["change"]
    assert changed["properties"] == reported
    assert reported[0]["value"] == {"value": "UNREACHABLE"}


def test_motion_and_doorbell_contents_come_from_their_capabilities() -> None:
    motion = events.motion_change(ENDPOINT, False, AT, AT)("token")
    assert motion["event"]["payload"]["change"]["properties"] == [
        capabilities.MOTION_SENSOR.detection_state(False, AT)
    ]
    assert motion["context"]["properties"] == [capabilities.ENDPOINT_HEALTH.connectivity(True, AT)]
    press = events.doorbell_press(ENDPOINT, AT)("token")
    assert press["event"]["payload"] == capabilities.DOORBELL_EVENT_SOURCE.press(AT)
    assert press["event"]["payload"]["timestamp"] == "2026-03-01T12:00:05Z"


def _device(online: bool = True) -> Device:
    return Device(
        id="dev_abc123",
        name="Front Door",
        kind="doorbell",
        model="D190",
        firmware="v3.4.0",
        online=online,
        privacy_mode=False,
        motion_detection=True,
        person_detection=True,
        two_way_audio=False,
        profiles=(),
    )
