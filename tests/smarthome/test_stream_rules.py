"""stream_rules keeps its own copy of the authorization types discovery advertises; the two must agree.
The rules themselves (what the mint answers, and whether Alexa gets it) are rows of
tests/smarthome/cases/camera_stream.py."""

from __future__ import annotations

from skill.alexa import capabilities
from skill.cloud.contract import Device, StreamProfile
from skill.smarthome import stream_rules


def test_the_advertised_authorization_types_are_what_discovery_says() -> None:
    """stream_rules keeps its own copy of what capabilities advertises; the two must agree."""
    profiles = (
        StreamProfile("RTSP", 1920, 1080, "H264", "AAC"),
        StreamProfile("RTSP", 640, 480, "MJPEG", "NONE"),
    )
    device = Device(
        id="dev_1", name="Porch", kind="camera", model="C1", firmware="v1", online=True, privacy_mode=False,
        parent_id=None, motion_detection=True, profiles=profiles,
    )  # fmt: skip
    advertised = {
        kind
        for entry in capabilities.discovery_entries(device)
        for config in entry.get("cameraStreamConfigurations", [])
        for kind in config["authorizationTypes"]
    }
    assert advertised == stream_rules.ADVERTISED_AUTHORIZATION_TYPES
