"""A stream answer Alexa cannot play never reaches Alexa as a success (skill/smarthome/stream_rules.py).

Each case changes what the reference ACCloud's mint returns, then runs InitializeCameraStreams
through lambda_handler.handler; every answer is validated against Amazon's schema (``invoke``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from skill.alexa import capabilities
from skill.cloud.contract import Device, StreamProfile
from skill.smarthome import stream_rules
from tests.smarthome.conftest import discover
from tests.smarthome.test_directives import initialize_streams, stream_request_for

PROBE = {  # what a probe of the unchecked path got through to Alexa as a success
    "uri": "rtsp://192.168.1.20:554/live",
    "snapshot_uri": "http://192.168.1.20/snap.jpg",
    "authorization_type": "DIGEST",
}

BAD_ANSWERS = [
    ({"uri": "rtsp://192.168.1.20:554/live"}, "stream_not_on_443"),
    ({"uri": "rtsp://streams.example/live/x"}, "stream_not_on_443"),  # rtsp's default port is 554
    ({"uri": "https://streams.example:443/live/x.m3u8"}, "stream_not_rtsp"),
    ({"uri": "rtsps://[::1:443/live/x"}, "stream_not_rtsp"),  # no parseable URI at all
    ({"uri": "live/x"}, "stream_not_rtsp"),
    ({"uri": "rtsps://:443/live/x"}, "stream_without_host"),
    ({"uri": "rtsps://streams.example:554/live/x"}, "stream_not_on_443"),
    ({"uri": "rtsps://streams.example/live/x"}, "stream_not_on_443"),  # rtsps' own default is 322
    ({"uri": "rtsps://streams.example:4430/live/x"}, "stream_not_on_443"),
    ({"uri": "rtsps://streams.example:abc/live/x"}, "stream_not_on_443"),
    ({"snapshot_uri": "http://streams.example/snap/x.jpg"}, "image_not_https"),
    ({"snapshot_uri": "rtsps://streams.example:443/snap/x.jpg"}, "image_not_https"),
    ({"snapshot_uri": "https:///snap/x.jpg"}, "image_without_host"),
    ({"authorization_type": "DIGEST"}, "authorization_type_not_agreed"),
    ({"authorization_type": "BASIC"}, "authorization_type_not_agreed"),
    (PROBE, "stream_not_on_443"),
]

GOOD_ANSWERS = [
    {},  # the reference ACCloud's own answer
    {"uri": "RTSPS://Streams.Example:443/live/x"},
    # Amazon's own sample response writes the TLS socket on 443 with the plain scheme.
    {"uri": "rtsp://username:password@link.to.video:443/feed1.mp4"},
    {"uri": "rtsps://viewer:s3cret@streams.example:443/live/x"},
    {"uri": "rtsps://203.0.113.7:443/live/x"},
    {"snapshot_uri": "https://streams.example:8443/snap/x.jpg"},
]


@pytest.fixture
def mint_returns(accloud, monkeypatch: pytest.MonkeyPatch):
    """Make the reference ACCloud's next mints answer with some fields replaced."""

    def replace(changes: dict[str, Any]) -> None:
        cloud = accloud._cloud
        real = cloud.mint_stream

        def mint(user_id: str, device_id: str, profile: Any) -> dict[str, Any]:
            return {**real(user_id, device_id, profile), **changes}

        monkeypatch.setattr(cloud, "mint_stream", mint)

    return replace


@pytest.mark.parametrize(("changes", "reason"), BAD_ANSWERS)
def test_unplayable_answers_are_refused_and_only_the_reason_is_logged(
    accloud, tokens, alexa_schema, mint_returns, caplog, changes, reason
) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    mint_returns(changes)
    with caplog.at_level(logging.DEBUG):
        answer = initialize_streams(tokens["alice"], endpoint, alexa_schema)
    assert answer["event"]["header"]["name"] == "ErrorResponse"
    assert answer["event"]["payload"]["type"] == "INTERNAL_ERROR"  # never an auth error: no unlinking
    refusals = [r for r in caplog.records if r.getMessage() == "unplayable stream answer refused"]
    assert [getattr(r, "fields", None) for r in refusals] == [{"reason": reason}]
    minted = accloud.minted_streams()[-1] | changes
    logged = caplog.text + json.dumps([getattr(r, "fields", None) for r in caplog.records], default=str)
    for value in (minted["uri"], minted["snapshot_uri"]):
        assert value not in logged
    assert minted["uri"] not in json.dumps(answer)


@pytest.mark.parametrize("changes", GOOD_ANSWERS)
def test_playable_answers_reach_alexa_unchanged(accloud, tokens, alexa_schema, mint_returns, changes) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    mint_returns(changes)
    answer = initialize_streams(tokens["alice"], endpoint, alexa_schema)
    minted = accloud.minted_streams()[-1] | changes
    (stream,) = answer["event"]["payload"]["cameraStreams"]
    assert stream["uri"] == minted["uri"]
    assert answer["event"]["payload"]["imageUri"] == minted["snapshot_uri"]
    assert stream["authorizationType"] == minted["authorization_type"]


@pytest.mark.parametrize(
    ("asked", "answered", "accepted"),
    [
        ("DIGEST", "DIGEST", True),  # the directive asked for it
        ("BASIC", "BASIC", True),
        ("BASIC", "DIGEST", False),
        ("BEARER", "NONE", True),  # what discovery advertises is always agreed
        ("BEARER", "BASIC", False),
    ],
)
def test_the_authorization_type_must_be_one_asked_for_or_advertised(
    accloud, tokens, alexa_schema, mint_returns, asked, answered, accepted
) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Garage"]
    payload = stream_request_for(endpoint)
    for stream in payload["cameraStreams"]:
        stream["authorizationType"] = asked
    mint_returns({"authorization_type": answered})
    answer = initialize_streams(tokens["alice"], endpoint, alexa_schema, payload)
    if accepted:
        (stream,) = answer["event"]["payload"]["cameraStreams"]
        assert stream["authorizationType"] == answered
    else:
        assert answer["event"]["payload"]["type"] == "INTERNAL_ERROR"


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
