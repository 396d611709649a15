"""Unit tests of the smart-home building blocks that need no ACCloud."""

from __future__ import annotations

import string

import pytest

from skill.alexa import endpoints
from skill.alexa.errors import InvalidDirective, InvalidValue
from skill.cloud.contract import Device, StreamProfile, parse_device
from skill.privacy import pseudonyms
from skill.smarthome.camera_stream import choose, requested_profiles

pytestmark = pytest.mark.usefixtures("aws_env")

P1080 = StreamProfile("RTSP", 1920, 1080, "H264", "AAC")
P720 = StreamProfile("RTSP", 1280, 720, "H264", "G711")
P720_SILENT = StreamProfile("RTSP", 1280, 720, "H264", "NONE")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Front Door", "Front Door"),
        ("  Back   Yard! ", "Back Yard"),
        ("Kid's room #2", "Kid s room 2"),
        ("玄関カメラ", "玄関カメラ"),
        ("Garage\u00a0Cam", "Garage Cam"),
        ("x" * 200, "x" * 128),
    ],
)
def test_friendly_names_obey_alexa_rules(raw: str, expected: str) -> None:
    assert endpoints.friendly_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "!!!", "\u200b"])
def test_unusable_names_are_refused(raw: str) -> None:
    with pytest.raises(endpoints.UndescribableDevice):
        endpoints.friendly_name(raw)


def test_endpoint_ids_are_stable_opaque_and_bound_to_their_owner() -> None:
    first = pseudonyms.endpoint_id("usr_alice", "dev_SN1234567890")
    assert first == pseudonyms.endpoint_id("usr_alice", "dev_SN1234567890")
    assert "SN1234567890" not in first and "dev_" not in first
    assert pseudonyms.device_id_for("usr_alice", first) == "dev_SN1234567890"
    with pytest.raises(pseudonyms.UnknownEndpoint):
        pseudonyms.device_id_for("usr_bob", first)
    tampered = first[:-2] + ("A" if first[-2] != "A" else "B") + first[-1]
    with pytest.raises(pseudonyms.UnknownEndpoint):
        pseudonyms.device_id_for("usr_alice", tampered)


@pytest.mark.parametrize("bogus", ["", "abc", "z1_", "z1_!!!!", "z1_" + "A" * 300, None, 42])
def test_bogus_endpoint_ids_are_unknown(bogus: object) -> None:
    with pytest.raises(pseudonyms.UnknownEndpoint):
        pseudonyms.device_id_for("usr_alice", bogus)  # type: ignore[arg-type]


_PREFIX = pseudonyms.ENDPOINT_ID_PREFIX
_BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _spare_bit_set(endpoint: str) -> str:
    """The last character with an unused low bit set: lenient base64 decodes it to the same bytes."""
    assert (len(endpoint) - len(_PREFIX)) % 4 in (2, 3), "no spare bits"
    return endpoint[:-1] + _BASE64URL[_BASE64URL.index(endpoint[-1]) ^ 1]


# Other spellings of one sealed device id; before the decoding was strict each opened the device.
NON_CANONICAL_SPELLINGS = {
    "padding appended": lambda e: e + "=",
    "two paddings appended": lambda e: e + "==",
    "junk appended": lambda e: e + "&&",
    "junk inside": lambda e: e[:10] + "##" + e[10:],
    "a spare bit of the last character set": _spare_bit_set,
    "standard base64 alphabet": lambda e: _PREFIX + e[len(_PREFIX) :].replace("-", "+").replace("_", "/"),
}


@pytest.mark.parametrize("spell", NON_CANONICAL_SPELLINGS.values(), ids=NON_CANONICAL_SPELLINGS.keys())
def test_only_the_canonical_spelling_of_an_endpoint_id_opens_the_device(spell) -> None:
    canonical = pseudonyms.endpoint_id("usr_alice", "dev_SN1234567890")
    spelling = spell(canonical)
    assert spelling != canonical and spelling.startswith(_PREFIX)
    assert pseudonyms.device_id_for("usr_alice", canonical) == "dev_SN1234567890"
    with pytest.raises(pseudonyms.UnknownEndpoint):
        pseudonyms.device_id_for("usr_alice", spelling)


def test_user_keys_differ_per_id_space() -> None:
    assert pseudonyms.user_key("x") != pseudonyms.alexa_user_key("x") != pseudonyms.link_key("x")
    assert pseudonyms.user_key("x") == pseudonyms.user_key("x")


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


def _device(i: int, kind: str = "camera", name: str | None = None) -> Device:
    return Device(
        id=f"dev_{i:04d}",
        name=name or f"Cam {i:04d}",
        kind=kind,
        model="C1",
        firmware="1",
        online=True,
        privacy_mode=False,
        parent_id="nvr_1" if kind == "nvr_channel" else None,
        profiles=(P720,),
    )


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


def test_more_than_300_devices_are_cut_deterministically() -> None:
    devices = [
        _device(i, kind) for i, kind in enumerate(["nvr_channel"] * 200 + ["camera"] * 150 + ["doorbell"] * 2)
    ]
    kept, dropped = endpoints.select(devices)
    again, _ = endpoints.select(list(reversed(devices)))
    assert len(kept) == 300 and dropped == 52
    assert kept == again
    assert [d.kind for d in kept[:2]] == ["doorbell", "doorbell"]
    assert sum(d.kind == "camera" for d in kept) == 150


def test_profiles_round_trip_through_the_cookie() -> None:
    endpoint = endpoints.describe("usr_alice", _device(1))
    assert endpoints.decode_profiles(endpoint["cookie"]) == [P720]
    assert endpoints.decode_profiles({}) is None
    assert endpoints.decode_profiles({"profiles": "not json"}) is None


def test_the_cookie_carries_stream_profiles_only_and_identifies_no_one() -> None:
    """docs/privacy.md II: the endpoint cookie is not personal data. Two owners' cameras of the same
    model get the same cookie, whatever their names and ids; it holds the five profile fields."""
    alice = endpoints.describe("usr_alice", _device(1, name="Alice Front Door"))
    bob = endpoints.describe("usr_bob", _device(2, name="Bob Garage")._replace(firmware="9"))
    assert alice["endpointId"] != bob["endpointId"]
    assert alice["cookie"] == bob["cookie"] == {"profiles": '[["RTSP",1280,720,"H264","G711"]]'}


@pytest.mark.parametrize(
    ("url", "local_mode", "allowed"),
    [
        ("https://api.accloud.example", False, True),
        ("http://api.accloud.example", False, False),
        ("http://api.accloud.example", True, False),  # local mode allows loopback only
        ("http://127.0.0.1:8080", True, True),
        ("http://127.0.0.1:8080", False, False),
        ("ftp://api.accloud.example", True, False),
    ],
)
def test_accloud_client_is_https_only_except_loopback_in_local_mode(
    monkeypatch, url, local_mode, allowed
) -> None:
    from skill.cloud.client import HttpCameraCloud
    from skill.config import ConfigError, load

    monkeypatch.setenv("ZOSI_ACCLOUD_BASE_URL", url)
    monkeypatch.setenv("ZOSI_LOCAL_MODE", "1" if local_mode else "0")
    if allowed:
        HttpCameraCloud(load())
    else:
        with pytest.raises(ConfigError):
            HttpCameraCloud(load())
