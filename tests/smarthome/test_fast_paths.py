"""The discovery fast paths (docs/performance.md) give exactly what the plain code gives."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skill import warm
from skill.alexa import capabilities, endpoints
from skill.cloud import contract
from skill.cloud.contract import Device, StreamProfile
from skill.privacy import pseudonyms

pytestmark = pytest.mark.usefixtures("aws_env")

PROFILES = [
    StreamProfile("RTSP", 1920, 1080, "H264", "AAC"),
    StreamProfile("RTSP", 640, 480, "MJPEG", "NONE"),
    StreamProfile("WEBRTC", 1280, 720, "H264", "G711"),
]


def devices() -> st.SearchStrategy[Device]:
    return st.builds(
        Device,
        id=st.from_regex(r"dev_[a-z0-9]{1,12}", fullmatch=True),
        name=st.text(min_size=1, max_size=40).filter(lambda s: any(c.isalnum() for c in s)),
        kind=st.sampled_from(["camera", "doorbell", "nvr_channel"]),
        model=st.text(max_size=12),
        firmware=st.text(max_size=12),
        online=st.booleans(),
        privacy_mode=st.booleans(),
        parent_id=st.none() | st.just("nvr_1"),
        motion_detection=st.booleans(),
        person_detection=st.booleans(),
        two_way_audio=st.booleans(),
        profiles=st.lists(st.sampled_from(PROFILES), max_size=3, unique=True).map(tuple),
    )


def plain_digest(endpoint: dict[str, Any]) -> str:
    """The digest as first written: every stored index entry was computed this way."""
    relevant = {k: endpoint[k] for k in ("friendlyName", "description", "displayCategories", "capabilities")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def plain_friendly_name(raw: str) -> str:
    kept = "".join(
        ch if unicodedata.category(ch)[0] in ("L", "N") else " " for ch in unicodedata.normalize("NFC", raw)
    )
    return " ".join(kept.split())[: endpoints.MAX_NAME].strip()


@settings(max_examples=150, deadline=None)
@given(st.lists(devices(), min_size=1, max_size=12))
def test_describe_many_equals_describe_and_the_original_digest(found: list[Device]) -> None:
    describe = endpoints.DescribeMany("usr_owner")
    for device in found:
        endpoint, digest = describe(device)
        assert endpoint == endpoints.describe("usr_owner", device)
        assert digest == endpoints.capability_digest(endpoint) == plain_digest(endpoint)


def test_devices_sharing_a_look_keep_their_own_names_ids_and_digests() -> None:
    """An NVR's channels: one shape, model and firmware, so one shared ``_Look`` and one hashed
    digest head; each endpoint still gets its own id, name and the digest its own name gives."""
    channel = Device(
        id="dev_ch0", name="Channel 0", kind="nvr_channel", model="N8", firmware="v1", online=True,
        privacy_mode=False, parent_id="nvr_1", motion_detection=True, profiles=(PROFILES[0],),
    )  # fmt: skip
    channels = [channel._replace(id=f"dev_ch{n}", name=f"Channel {n}") for n in range(4)]
    describe = endpoints.DescribeMany("usr_owner")
    found = [describe(device) for device in channels]
    assert len({endpoint["endpointId"] for endpoint, _ in found}) == 4
    assert [endpoint["friendlyName"] for endpoint, _ in found] == [f"Channel {n}" for n in range(4)]
    assert len({digest for _, digest in found}) == 4
    for device, (endpoint, digest) in zip(channels, found, strict=True):
        assert endpoint == endpoints.describe("usr_owner", device)
        assert digest == plain_digest(endpoint)
    assert found[0][0]["capabilities"] is found[3][0]["capabilities"]  # built once for the look


@settings(max_examples=150, deadline=None)
@given(devices(), devices())
def test_capabilities_read_nothing_but_the_shape(first: Device, second: Device) -> None:
    """Devices that differ only outside ``capabilities.shape`` get the same discovery entries."""
    twin = second._replace(**{name: getattr(first, name) for name in capabilities.SHAPE_FIELDS})
    assert capabilities.shape(twin) == capabilities.shape(first)
    assert capabilities.discovery_entries(twin) == capabilities.discovery_entries(first)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.from_regex(r"[A-Za-z0-9 ]{1,60}", fullmatch=True))
def test_the_ascii_fast_path_of_friendly_names_changes_nothing(raw: str) -> None:
    expected = plain_friendly_name(raw)
    if not expected:
        with pytest.raises(endpoints.UndescribableDevice):
            endpoints.friendly_name(raw)
    else:
        assert endpoints.friendly_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"protocol": "HLS", "width": 1, "height": 1, "video_codec": "H264", "audio_codec": "AAC"},
            "protocol",
        ),
        (
            {"protocol": "RTSP", "width": True, "height": 1, "video_codec": "H264", "audio_codec": "AAC"},
            "resolution",
        ),
        (
            {"protocol": "RTSP", "width": 0, "height": 1, "video_codec": "H264", "audio_codec": "AAC"},
            "resolution",
        ),
        (
            {"protocol": "RTSP", "width": 1.0, "height": 1, "video_codec": "H264", "audio_codec": "AAC"},
            "resolution",
        ),
        (
            {"protocol": "RTSP", "width": [1], "height": 1, "video_codec": "H264", "audio_codec": "AAC"},
            "resolution",
        ),
        ({"protocol": "RTSP", "width": 2, "height": 1, "video_codec": "VP9", "audio_codec": "AAC"}, "codec"),
        (
            {"protocol": "RTSP", "width": 2, "height": 1, "video_codec": ["H264"], "audio_codec": "AAC"},
            "codec",
        ),
        ({"protocol": "RTSP", "width": 1, "height": 1, "video_codec": "H264", "audio_codec": "AAC"}, None),
    ],
)
def test_cached_profiles_are_validated_like_fresh_ones(raw: dict[str, Any], problem: str | None) -> None:
    """The profile cache never turns a refusal into an answer (a bool is no width, even though
    True == 1 and both hash alike)."""
    for _ in range(2):  # the second time may come from the cache
        if problem is None:
            assert contract.parse_profile(raw) == StreamProfile("RTSP", 1, 1, "H264", "AAC")
            with pytest.raises(contract.MalformedDevice):  # not the cached (RTSP, 1, 1, ...) profile
                contract.parse_profile(dict(raw, width=True))
        else:
            with pytest.raises(contract.MalformedDevice, match=problem):
                contract.parse_profile(raw)


def test_user_keys_are_remembered_only_for_the_current_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    first = pseudonyms.user_key("usr_cached")
    assert pseudonyms.user_key("usr_cached") == first
    warm.reset()
    monkeypatch.setattr(pseudonyms, "keys", lambda: pseudonyms.PseudonymKeys(b"k" * 32, b"e" * 64))
    assert pseudonyms.user_key("usr_cached") != first
