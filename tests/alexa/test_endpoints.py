"""Endpoint descriptions (skill/alexa/endpoints.py): names as Alexa allows them, the 300-endpoint cut,
the profile cookie (what it carries, and under Amazon's 5000-byte limit), and names without a letter
or digit. Discovery of such devices end to end is a row of tests/smarthome/cases/discovery.py."""

from __future__ import annotations

import json
import random

import pytest

from skill.alexa import endpoints
from skill.cloud.contract import Device, StreamProfile

pytestmark = pytest.mark.usefixtures("pseudonym_keys")

P720 = StreamProfile("RTSP", 1280, 720, "H264", "G711")


def _profiles(count: int) -> tuple[StreamProfile, ...]:
    """``count`` distinct RTSP profiles, the largest first."""
    return tuple(StreamProfile("RTSP", 4000 - 8 * i, 3000 - 6 * i, "H264", "AAC") for i in range(count))


def _device(device_id: str, name: str, kind: str = "camera", profiles: int = 1) -> Device:
    return Device(
        id=device_id, name=name, kind=kind, model="C190", firmware="v5.2.1", online=True,
        privacy_mode=False, parent_id="nvr_1" if kind == "nvr_channel" else None,
        motion_detection=True, profiles=_profiles(profiles),
    )  # fmt: skip


def _cookie_bytes(profiles: int) -> int:
    cookie = {"profiles": endpoints.encode_profiles(_profiles(profiles))}
    return len(json.dumps(cookie, separators=(",", ":")).encode())


# --- the profile cookie stays under Amazon's 5000-byte limit ----------------------------------------


@pytest.mark.parametrize("profiles", [0, 1, 10, 100, 131, 132, 200, 1000])
def test_the_cookie_is_left_out_exactly_when_it_would_reach_the_limit(profiles: int) -> None:
    device = _device("dev_many", "Lobby", profiles=profiles)
    endpoint = endpoints.describe("usr_alice", device)
    assert endpoint == endpoints.DescribeMany("usr_alice")(device)[0]  # the fast path agrees
    expected = profiles > 0 and _cookie_bytes(profiles) < endpoints.MAX_COOKIE_BYTES
    assert ("cookie" in endpoint) is expected
    if expected:
        assert endpoints.decode_profiles(endpoint["cookie"]) == list(_profiles(profiles))
    else:  # the stream path then asks ACCloud (camera_stream.choose with no cookie profiles)
        assert endpoints.decode_profiles(endpoint.get("cookie", {})) is None


def test_the_limit_falls_between_the_table_rows() -> None:
    """The table above has the last count under the limit and the first at or over it."""
    assert _cookie_bytes(131) < endpoints.MAX_COOKIE_BYTES <= _cookie_bytes(132)


# --- names without a letter or digit get a fallback name ------------------------------------------

ODD_NAMES = ["📷", "🐶📷🐶", "!!!", "", "   ", "\u200b", "🇩🇪", "---", "😀 ❤️", "\u0301\u0301"]


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ([("camera", "📷")], ["ZOSI Camera"]),
        ([("doorbell", "🔔")], ["ZOSI Doorbell"]),
        ([("nvr_channel", "⭐")], ["ZOSI Camera"]),
        ([("camera", "📷"), ("camera", "!!!")], ["ZOSI Camera 1", "ZOSI Camera 2"]),
        ([("camera", "📷"), ("nvr_channel", "  ")], ["ZOSI Camera 1", "ZOSI Camera 2"]),
        ([("camera", "📷"), ("doorbell", "🔔")], ["ZOSI Camera", "ZOSI Doorbell"]),
        ([("camera", "Front Door"), ("camera", "📷")], [None, "ZOSI Camera"]),
        ([("camera", "ZOSI Camera"), ("camera", "📷")], [None, "ZOSI Camera 1"]),  # no clash
        (
            [("camera", "zosi-camera 1"), ("camera", "📷"), ("camera", "🎥")],
            [None, "ZOSI Camera 2", "ZOSI Camera 3"],
        ),
        ([("doorbell", "Zosi Doorbell"), ("doorbell", "🔔")], [None, "ZOSI Doorbell 1"]),
        (
            [("camera", name) for name in ODD_NAMES],
            [f"ZOSI Camera {n}" for n in range(1, len(ODD_NAMES) + 1)],
        ),
        ([("camera", "Front Door"), ("doorbell", "玄関")], [None, None]),
    ],
)
def test_fallback_names(listed: list[tuple[str, str]], expected: list[str | None]) -> None:
    devices = [_device(f"dev_{i:02d}", name, kind) for i, (kind, name) in enumerate(listed)]
    names = endpoints.fallback_names(devices)
    assert [names.get(d.id) for d in devices] == expected
    shuffled = devices[:]
    random.Random(7).shuffle(shuffled)
    assert endpoints.fallback_names(shuffled) == names  # ACCloud's listing order does not matter
    describe = endpoints.DescribeMany("usr_alice", names)
    for device, name in zip(devices, expected, strict=True):
        endpoint = endpoints.describe("usr_alice", device, names.get(device.id))
        assert describe(device)[0] == endpoint
        assert endpoint["friendlyName"] == (name or endpoints.friendly_name(device.name))
        assert device.id.removeprefix("dev_") not in endpoint["friendlyName"]


def test_without_a_fallback_a_nameless_device_is_still_undescribable() -> None:
    """AddOrUpdateReport describes one device and has no account list to number it in."""
    with pytest.raises(endpoints.UndescribableDevice):
        endpoints.describe("usr_alice", _device("dev_1", "📷"))
    with pytest.raises(endpoints.UndescribableDevice):
        endpoints.DescribeMany("usr_alice")(_device("dev_1", "📷"))


# --- names, the 300-endpoint cut and the cookie's content ----------------------------------------


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


def _numbered(i: int, kind: str = "camera", name: str | None = None) -> Device:
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


def test_more_than_300_devices_are_cut_deterministically() -> None:
    kinds = ["nvr_channel"] * 200 + ["camera"] * 150 + ["doorbell"] * 2
    devices = [_numbered(i, kind) for i, kind in enumerate(kinds)]
    kept, dropped = endpoints.select(devices)
    again, _ = endpoints.select(list(reversed(devices)))
    assert len(kept) == 300 and dropped == 52
    assert kept == again
    assert [d.kind for d in kept[:2]] == ["doorbell", "doorbell"]
    assert sum(d.kind == "camera" for d in kept) == 150


def test_profiles_round_trip_through_the_cookie() -> None:
    endpoint = endpoints.describe("usr_alice", _numbered(1))
    assert endpoints.decode_profiles(endpoint["cookie"]) == [P720]
    assert endpoints.decode_profiles({}) is None
    assert endpoints.decode_profiles({"profiles": "not json"}) is None


def test_the_cookie_carries_stream_profiles_only_and_identifies_no_one() -> None:
    """docs/privacy.md II: the endpoint cookie is not personal data. Two owners' cameras of the same
    model get the same cookie, whatever their names and ids; it holds the five profile fields."""
    alice = endpoints.describe("usr_alice", _numbered(1, name="Alice Front Door"))
    bob = endpoints.describe("usr_bob", _numbered(2, name="Bob Garage")._replace(firmware="9"))
    assert alice["endpointId"] != bob["endpointId"]
    assert alice["cookie"] == bob["cookie"] == {"profiles": '[["RTSP",1280,720,"H264","G711"]]'}
