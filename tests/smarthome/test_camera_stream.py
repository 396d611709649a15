"""Stream choice (skill/smarthome/camera_stream.py): the best requested configuration the camera
really streams, and malformed requests refused."""

from __future__ import annotations

import pytest

from skill.alexa.errors import InvalidDirective, InvalidValue
from skill.cloud.contract import StreamProfile
from skill.smarthome.camera_stream import choose, requested_profiles

P1080 = StreamProfile("RTSP", 1920, 1080, "H264", "AAC")
P720 = StreamProfile("RTSP", 1280, 720, "H264", "G711")
P720_SILENT = StreamProfile("RTSP", 1280, 720, "H264", "NONE")


def _request(*streams: StreamProfile, auth: str = "BEARER") -> dict:
    return {
        "cameraStreams": [
            {
                "protocol": s.protocol,
                "resolution": {"width": s.width, "height": s.height},
                "authorizationType": auth,
                "videoCodec": s.video_codec,
                "audioCodec": s.audio_codec,
            }
            for s in streams
        ]
    }


@pytest.mark.parametrize(
    ("requested", "supported", "expected"),
    [
        ((P720, P1080), [P1080, P720], P1080),  # most pixels wins
        ((P1080, P720), [P720], P720),  # only what the camera really does
        ((P720_SILENT, P720), [P720, P720_SILENT], P720),  # richer audio on a tie
        ((P720, P1080), None, P1080),  # no cookie: ACCloud judges
    ],
)
def test_stream_choice(requested, supported, expected) -> None:
    assert choose(requested_profiles(_request(*requested)), supported) == expected


def test_no_supported_configuration_is_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        choose(requested_profiles(_request(P1080)), [P720])


@pytest.mark.parametrize(
    "payload",
    [{}, {"cameraStreams": []}, {"cameraStreams": [1]}, {"cameraStreams": [{"protocol": "RTSP"}]}],
)
def test_malformed_stream_requests(payload) -> None:
    with pytest.raises(InvalidDirective):
        requested_profiles(payload)
