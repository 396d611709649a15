"""The ACCloud contract (skill/cloud/contract.py): devices parsed as the camera really streams."""

from __future__ import annotations

import pytest

from skill.cloud.contract import StreamProfile, parse_device

P1080 = StreamProfile("RTSP", 1920, 1080, "H264", "AAC")
P720 = StreamProfile("RTSP", 1280, 720, "H264", "G711")


def _wire(p: StreamProfile) -> dict:
    return {"protocol": p.protocol, "width": p.width, "height": p.height,
            "video_codec": p.video_codec, "audio_codec": p.audio_codec}  # fmt: skip


P720_WEBRTC = StreamProfile("WEBRTC", 1280, 720, "H264", "G711")


# Alexa's schema wants cameraStreamConfigurations unique: each profile is kept once, first come first.
@pytest.mark.parametrize(
    ("listed", "kept"),
    [
        ([P1080, P1080], (P1080,)),
        ([P1080, P720, P1080], (P1080, P720)),
        ([P720, P1080, P720, P1080, P720], (P720, P1080)),
        ([P720, P720_WEBRTC, P720], (P720, P720_WEBRTC)),  # same picture, other protocol: both kept
        ([P1080, P720], (P1080, P720)),
    ],
)
def test_a_profile_listed_twice_is_parsed_once_in_order(listed, kept) -> None:
    raw = {"id": "dev_1", "name": "Porch", "kind": "camera", "stream_profiles": [_wire(p) for p in listed]}
    assert parse_device(raw).profiles == kept
