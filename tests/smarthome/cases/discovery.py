"""Alexa.Discovery.Discover: every camera, doorbell and NVR channel, described truthfully and without
anything private; broken devices skipped, the 300-endpoint cap, ACCloud outages never an auth error."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devstack import demo_data
from tests.smarthome.canned import html
from tests.smarthome.cases import Case, Expect, Send, World, capability, error, fresh_token

DISCOVER = Send("Alexa.Discovery", "Discover")


def found(world: World) -> dict[str, dict[str, Any]]:
    """friendlyName -> endpoint, from the answer under test."""
    return {e["friendlyName"]: e for e in world.answer["event"]["payload"]["endpoints"]}


def discovered(check: Callable[[World, dict[str, dict[str, Any]]], None]) -> Expect:
    return Expect("Discover.Response", "Alexa.Discovery", check=lambda world: check(world, found(world)))


def lists_every_camera_doorbell_and_channel(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    seed = demo_data.demo_seed()
    assert set(endpoints) == {d.name for d in seed.devices if d.owner_id == demo_data.ALICE_ID}
    doorbell = endpoints["Front Door"]
    assert doorbell["displayCategories"] == ["CAMERA", "DOORBELL"]
    assert {
        "Alexa",
        "Alexa.CameraStreamController",
        "Alexa.RTCSessionController",
        "Alexa.EndpointHealth",
        "Alexa.DoorbellEventSource",
        "Alexa.MotionSensor",
    } <= {c["interface"] for c in doorbell["capabilities"]}
    assert endpoints["Garage"]["displayCategories"] == ["CAMERA"]
    assert "Alexa.RTCSessionController" not in {c["interface"] for c in endpoints["Garage"]["capabilities"]}


def stream_configurations_are_truthful(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    for device in demo_data.demo_seed().devices:
        if device.owner_id != demo_data.ALICE_ID:
            continue
        advertised = {
            (r["width"], r["height"], config["videoCodecs"][0], config["audioCodecs"][0])
            for cap in endpoints[device.name]["capabilities"]
            for config in cap.get("cameraStreamConfigurations", [])
            for r in config["resolutions"]
        }
        real = {
            (p.width, p.height, p.video_codec, p.audio_codec) for p in device.profiles if p.protocol == "RTSP"
        }
        assert advertised == real, device.name


def shares_nothing_private(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    text = json.dumps(world.answer)
    for device in demo_data.demo_seed().devices:
        for private in (device.id, device.serial_number, device.mac, device.wifi_ssid, device.lan_ip):
            assert private not in text


def stable_across_discoveries_and_tokens(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    from tests.smarthome.conftest import discover

    again = discover(world.accloud.issue_token("alice")["access_token"], world.schema)
    assert {n: e["endpointId"] for n, e in endpoints.items()} == {
        n: e["endpointId"] for n, e in again.items()
    }


def broken_device_skipped(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    assert "Broken" not in endpoints and "Front Door" in endpoints


P1080 = {"protocol": "RTSP", "width": 1920, "height": 1080, "video_codec": "H264", "audio_codec": "AAC"}
P720 = {"protocol": "RTSP", "width": 1280, "height": 720, "video_codec": "H264", "audio_codec": "G711"}


def profile_advertised_once(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    """Two equal cameraStreamConfigurations fail Amazon's schema (the runner validates the answer)."""
    camera = capability(endpoints["Porch"], "Alexa.CameraStreamController")
    advertised = [
        (r["width"], r["height"], config["audioCodecs"])
        for config in camera["cameraStreamConfigurations"]
        for r in config["resolutions"]
    ]
    assert advertised == [(1920, 1080, ["AAC"]), (1280, 720, ["G711"])]


def capped_at_300(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    assert len(endpoints) == 300
    assert "Front Door" in endpoints  # doorbells are kept first


def full_duplex_where_the_camera_talks_back(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    def duplex(name: str) -> bool:
        return bool(
            capability(endpoints[name], "Alexa.RTCSessionController")["configuration"][
                "isFullDuplexAudioSupported"
            ]
        )

    assert duplex("Front Door") is True
    assert duplex("Back Yard") is False  # a one-way camera


NAMELESS = [("camera", "📷📷"), ("camera", "!!!"), ("doorbell", "🔔")]


def nameless_devices_get_fallback_names(world: World, endpoints: dict[str, dict[str, Any]]) -> None:
    from devstack import directives
    from tests.smarthome.conftest import discover, invoke

    warnings = world.logged("device without a usable name given a fallback name")
    assert sorted(r.fields["kind"] for r in warnings) == ["camera", "camera", "doorbell"]
    assert all(r.fields.keys() == {"kind"} for r in warnings)
    assert "📷" not in world.caplog.text and "🔔" not in world.caplog.text
    assert {"ZOSI Camera 1", "ZOSI Camera 2", "ZOSI Doorbell"} <= set(endpoints)
    assert (
        discover(world.tokens["alice"], world.schema).keys() == endpoints.keys()
    )  # the same names next time
    doorbell = endpoints["ZOSI Doorbell"]
    answer = invoke(directives.initialize_streams(world.tokens["alice"], doorbell), world.schema)
    assert answer["event"]["header"]["name"] == "Response"


def add_nameless(world: World) -> None:
    for kind, name in NAMELESS:
        world.accloud.add_device("alice", name, kind=kind)


def add_300(world: World) -> None:
    for i in range(300):
        world.accloud.add_device("alice", f"Extra {i:03d}")


def handler_raises(world: World) -> None:
    from skill.smarthome import registry

    def boom(ctx: object) -> None:
        raise RuntimeError("bug")

    world.monkeypatch.setitem(registry.HANDLERS, ("Alexa.Discovery", "Discover"), boom)


CASES = [
    Case(
        "discovery lists every camera, doorbell and channel",
        DISCOVER,
        discovered(lists_every_camera_doorbell_and_channel),
    ),
    Case("stream configurations are truthful", DISCOVER, discovered(stream_configurations_are_truthful)),
    Case("discovery shares nothing private", DISCOVER, discovered(shares_nothing_private)),
    Case(
        "full duplex audio where the camera talks back",
        DISCOVER,
        discovered(full_duplex_where_the_camera_talks_back),
    ),
    Case(
        "endpoint ids stable across discoveries and tokens",
        Send("Alexa.Discovery", "Discover", token=fresh_token()),
        discovered(stable_across_discoveries_and_tokens),
    ),
    Case(
        "a malformed device is skipped, not fatal",
        DISCOVER,
        discovered(broken_device_skipped),
        seed=lambda world: world.accloud.add_device(
            "alice",
            "Broken",
            profiles=[
                {"protocol": "HLS", "width": 1, "height": 1, "video_codec": "H264", "audio_codec": "AAC"}
            ],
        ),
    ),
    Case(
        "a profile listed twice is advertised once",
        DISCOVER,
        discovered(profile_advertised_once),
        seed=lambda world: world.accloud.add_device("alice", "Porch", profiles=[P1080, P720, P1080, P720]),
    ),
    Case("three hundred endpoint cap", DISCOVER, discovered(capped_at_300), seed=add_300),
    Case(
        "nameless devices are discovered under a fallback name",
        DISCOVER,
        discovered(nameless_devices_get_fallback_names),
        seed=add_nameless,
    ),
    # A transient failure never looks like an auth error.
    Case(
        "ACCloud 502 in discovery",
        DISCOVER,
        error("BRIDGE_UNREACHABLE"),
        given=lambda world: world.accloud.set_fault("status", 502),
    ),
    Case(
        "ACCloud 403 page in discovery",
        DISCOVER,
        error("BRIDGE_UNREACHABLE"),
        given=lambda w: w.answer_with(html(403)),
    ),
    Case(
        "ACCloud 401 page in discovery",
        DISCOVER,
        error("BRIDGE_UNREACHABLE"),
        given=lambda w: w.answer_with(html(401)),
    ),
    Case(
        "an unexpected exception is INTERNAL_ERROR", DISCOVER, error("INTERNAL_ERROR"), given=handler_raises
    ),
]
