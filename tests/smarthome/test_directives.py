"""Directive in -> response or error out, through lambda_handler.handler and the reference ACCloud.

Every answer is validated against Amazon's schema (tests/smarthome/conftest.py::invoke).
"""

from __future__ import annotations

import json

import pytest

from skill.local import demo_data
from tests.smarthome.conftest import directive, discover, invoke

STREAM_REQUEST = {
    "cameraStreams": [
        {
            "protocol": "RTSP",
            "resolution": {"width": 1920, "height": 1080},
            "authorizationType": "BEARER",
            "videoCodec": "H264",
            "audioCodec": "AAC",
        },
        {
            "protocol": "RTSP",
            "resolution": {"width": 1280, "height": 720},
            "authorizationType": "NONE",
            "videoCodec": "H264",
            "audioCodec": "G711",
        },
    ]
}


def stream_request_for(endpoint: dict) -> dict:
    """What an Echo Show asks for: every configuration the endpoint advertised."""
    (camera,) = [c for c in endpoint["capabilities"] if c["interface"] == "Alexa.CameraStreamController"]
    streams = []
    for config in camera["cameraStreamConfigurations"]:
        for resolution in config["resolutions"]:
            streams.append(
                {
                    "protocol": "RTSP",
                    "resolution": resolution,
                    "authorizationType": config["authorizationTypes"][0],
                    "videoCodec": config["videoCodecs"][0],
                    "audioCodec": config["audioCodecs"][0],
                }
            )
    return {"cameraStreams": streams}


# --- discovery ------------------------------------------------------------------------------


def test_discovery_lists_every_camera_doorbell_and_channel(accloud, tokens, alexa_schema) -> None:
    found = discover(tokens["alice"], alexa_schema)
    seed = demo_data.demo_seed()
    expected = {d.name for d in seed.devices if d.owner_id == demo_data.ALICE_ID}
    assert set(found) == expected
    doorbell = found["Front Door"]
    assert doorbell["displayCategories"] == ["CAMERA", "DOORBELL"]
    interfaces = {c["interface"] for c in doorbell["capabilities"]}
    assert {
        "Alexa",
        "Alexa.CameraStreamController",
        "Alexa.RTCSessionController",
        "Alexa.EndpointHealth",
        "Alexa.DoorbellEventSource",
        "Alexa.MotionSensor",
    } <= interfaces
    assert found["Garage"]["displayCategories"] == ["CAMERA"]
    assert "Alexa.RTCSessionController" not in {c["interface"] for c in found["Garage"]["capabilities"]}


def test_stream_configurations_are_truthful(accloud, tokens, alexa_schema) -> None:
    found = discover(tokens["alice"], alexa_schema)
    seed = demo_data.demo_seed()
    for device in seed.devices:
        if device.owner_id != demo_data.ALICE_ID:
            continue
        advertised = set()
        for cap in found[device.name]["capabilities"]:
            for config in cap.get("cameraStreamConfigurations", []):
                for r in config["resolutions"]:
                    advertised.add(
                        (r["width"], r["height"], config["videoCodecs"][0], config["audioCodecs"][0])
                    )
        real = {
            (p.width, p.height, p.video_codec, p.audio_codec) for p in device.profiles if p.protocol == "RTSP"
        }
        assert advertised == real, device.name


def test_discovery_shares_nothing_private(accloud, tokens, alexa_schema) -> None:
    text = json.dumps(discover(tokens["alice"], alexa_schema))
    for device in demo_data.demo_seed().devices:
        for private in (device.id, device.serial_number, device.mac, device.wifi_ssid, device.lan_ip):
            assert private not in text


def test_endpoint_ids_are_stable_across_discoveries_and_tokens(accloud, alexa_schema) -> None:
    first = discover(accloud.issue_token("alice")["access_token"], alexa_schema)
    second = discover(accloud.issue_token("alice")["access_token"], alexa_schema)
    assert {n: e["endpointId"] for n, e in first.items()} == {n: e["endpointId"] for n, e in second.items()}


def test_malformed_device_is_skipped_not_fatal(accloud, tokens, alexa_schema) -> None:
    accloud.add_device(
        "alice",
        "Broken",
        profiles=[{"protocol": "HLS", "width": 1, "height": 1, "video_codec": "H264", "audio_codec": "AAC"}],
    )
    found = discover(tokens["alice"], alexa_schema)
    assert "Broken" not in found and "Front Door" in found


def test_a_profile_listed_twice_is_advertised_once(accloud, tokens, alexa_schema) -> None:
    """Two equal cameraStreamConfigurations fail Amazon's schema (discover() validates the answer)."""
    p1080 = {"protocol": "RTSP", "width": 1920, "height": 1080, "video_codec": "H264", "audio_codec": "AAC"}
    p720 = {"protocol": "RTSP", "width": 1280, "height": 720, "video_codec": "H264", "audio_codec": "G711"}
    accloud.add_device("alice", "Porch", profiles=[p1080, p720, p1080, p720])
    porch = discover(tokens["alice"], alexa_schema)["Porch"]
    (camera,) = [c for c in porch["capabilities"] if c["interface"] == "Alexa.CameraStreamController"]
    advertised = [
        (r["width"], r["height"], config["audioCodecs"])
        for config in camera["cameraStreamConfigurations"]
        for r in config["resolutions"]
    ]
    assert advertised == [(1920, 1080, ["AAC"]), (1280, 720, ["G711"])]


def test_three_hundred_endpoint_cap(accloud, tokens, alexa_schema) -> None:
    for i in range(300):
        accloud.add_device("alice", f"Extra {i:03d}")
    found = discover(tokens["alice"], alexa_schema)
    assert len(found) == 300
    assert "Front Door" in found  # doorbells are kept first


# --- streams --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("camera", "expected_resolution", "expected_audio"),
    [
        ("Front Door", (1920, 1080), "AAC"),
        ("Garage", (1280, 720), "G711"),
        ("Back Yard", (2560, 1440), "AAC"),
    ],
)
def test_stream_uses_the_best_configuration_the_camera_really_has(
    accloud, tokens, alexa_schema, camera, expected_resolution, expected_audio
) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)[camera]
    answer = invoke(
        directive(
            "Alexa.CameraStreamController",
            "InitializeCameraStreams",
            tokens["alice"],
            endpoint_id=endpoint["endpointId"],
            cookie=endpoint.get("cookie"),
            payload=stream_request_for(endpoint),
        ),
        alexa_schema,
    )
    (stream,) = answer["event"]["payload"]["cameraStreams"]
    assert (stream["resolution"]["width"], stream["resolution"]["height"]) == expected_resolution
    assert stream["audioCodec"] == expected_audio
    assert stream["uri"].startswith("rtsps://") and ":443/" in stream["uri"]
    assert stream["idleTimeoutSeconds"] >= 1 and stream["expirationTime"].endswith("Z")
    assert answer["event"]["payload"]["imageUri"].startswith("https://")
    assert stream["uri"] == accloud.minted_streams()[-1]["uri"]


def test_warm_stream_directive_makes_one_accloud_call(accloud, tokens, alexa_schema) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    event = directive(
        "Alexa.CameraStreamController",
        "InitializeCameraStreams",
        tokens["alice"],
        endpoint_id=endpoint["endpointId"],
        cookie=endpoint["cookie"],
        payload=STREAM_REQUEST,
    )
    invoke(event, alexa_schema)  # the token is now cached from discovery as well
    accloud.reset_request_counts()
    invoke(event, alexa_schema)
    assert sum(accloud.request_counts().values()) == 1


# --- error mapping --------------------------------------------------------------------------


def _stream_error(accloud, alexa_schema, token, endpoint) -> dict:
    answer = invoke(
        directive(
            "Alexa.CameraStreamController",
            "InitializeCameraStreams",
            token,
            endpoint_id=endpoint["endpointId"],
            cookie=endpoint.get("cookie"),
            payload=stream_request_for(endpoint),
        ),
        alexa_schema,
    )
    assert answer["event"]["header"]["name"] == "ErrorResponse", answer
    return answer["event"]["payload"]


@pytest.mark.parametrize(
    ("camera", "error_type"),
    [
        ("Shed", "ENDPOINT_UNREACHABLE"),  # camera offline
        ("Workshop", "BRIDGE_UNREACHABLE"),  # its NVR is offline
        ("Nursery", "NOT_SUPPORTED_IN_CURRENT_MODE"),  # privacy mode
    ],
)
def test_device_state_errors(accloud, tokens, alexa_schema, camera, error_type) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)[camera]
    payload = _stream_error(accloud, alexa_schema, tokens["alice"], endpoint)
    assert payload["type"] == error_type
    if error_type == "NOT_SUPPORTED_IN_CURRENT_MODE":
        assert payload["currentDeviceMode"] == "OTHER"


def test_another_users_endpoint_is_no_such_endpoint(accloud, tokens, alexa_schema) -> None:
    alices = discover(tokens["alice"], alexa_schema)["Front Door"]
    payload = _stream_error(accloud, alexa_schema, tokens["bob"], alices)
    assert payload["type"] == "NO_SUCH_ENDPOINT"
    assert not accloud.minted_streams()


@pytest.mark.parametrize(
    ("fault", "value", "error_type"),
    [
        ("invalid_token", None, "INVALID_AUTHORIZATION_CREDENTIAL"),
        ("expired_token", None, "EXPIRED_AUTHORIZATION_CREDENTIAL"),
        ("status", 503, "BRIDGE_UNREACHABLE"),
        ("status", 500, "BRIDGE_UNREACHABLE"),
        ("malformed", None, "BRIDGE_UNREACHABLE"),
        ("hang", 5, "BRIDGE_UNREACHABLE"),
        ("latency", 3, "BRIDGE_UNREACHABLE"),
    ],
)
def test_accloud_failures_map_to_the_right_error(accloud, alexa_schema, fault, value, error_type) -> None:
    token = accloud.issue_token("alice")["access_token"]  # a fresh token: nothing cached
    endpoint = discover(accloud.issue_token("alice")["access_token"], alexa_schema)["Garage"]
    accloud.set_fault(fault, value)
    try:
        payload = _stream_error(accloud, alexa_schema, token, endpoint)
    finally:
        accloud.clear_faults()
    assert payload["type"] == error_type


def test_expired_token_for_real(accloud, alexa_schema) -> None:
    issued = accloud.issue_token("alice")
    endpoint = discover(issued["access_token"], alexa_schema)["Garage"]
    other = accloud.issue_token("alice")["access_token"]
    accloud.expire_token(other)
    assert _stream_error(accloud, alexa_schema, other, endpoint)["type"] == "EXPIRED_AUTHORIZATION_CREDENTIAL"


def test_transient_failure_never_looks_like_an_auth_error_in_discovery(accloud, tokens, alexa_schema) -> None:
    accloud.set_fault("status", 502)
    try:
        answer = invoke(directive("Alexa.Discovery", "Discover", tokens["alice"]), alexa_schema)
    finally:
        accloud.clear_faults()
    assert answer["event"]["payload"]["type"] == "BRIDGE_UNREACHABLE"


@pytest.mark.parametrize(
    ("mutate", "error_type"),
    [
        (lambda e: e["directive"]["header"].update(namespace="Alexa.Nope"), "INVALID_DIRECTIVE"),
        (lambda e: e["directive"]["header"].update(name="Explode"), "INVALID_DIRECTIVE"),
        (lambda e: e["directive"]["header"].update(payloadVersion="2"), "INVALID_DIRECTIVE"),
        (lambda e: e["directive"]["endpoint"].pop("scope"), "INVALID_DIRECTIVE"),
        (lambda e: e["directive"]["endpoint"].update(endpointId="z1_bogus"), "NO_SUCH_ENDPOINT"),
        (lambda e: e["directive"]["endpoint"].update(endpointId="not-ours"), "NO_SUCH_ENDPOINT"),
        (lambda e: e["directive"]["payload"].update(cameraStreams="all"), "INVALID_DIRECTIVE"),
        (lambda e: e["directive"].update(payload=[]), "INVALID_DIRECTIVE"),
    ],
)
def test_malformed_directives(accloud, tokens, alexa_schema, mutate, error_type) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Garage"]
    event = directive(
        "Alexa.CameraStreamController",
        "InitializeCameraStreams",
        tokens["alice"],
        endpoint_id=endpoint["endpointId"],
        payload=STREAM_REQUEST,
    )
    mutate(event)
    answer = invoke(event, alexa_schema)
    assert answer["event"]["payload"]["type"] == error_type


@pytest.mark.parametrize("event", [{"directive": None}, {"directive": {"header": "x"}}, {"directive": {}}])
def test_garbage_envelopes_get_invalid_directive(accloud, alexa_schema, event) -> None:
    answer = invoke(event, alexa_schema)
    assert answer["event"]["payload"]["type"] == "INVALID_DIRECTIVE"


def test_unexpected_exception_is_internal_error(accloud, tokens, alexa_schema, monkeypatch) -> None:
    from skill.smarthome import registry

    def boom(ctx):
        raise RuntimeError("bug")

    monkeypatch.setitem(registry.HANDLERS, ("Alexa.Discovery", "Discover"), boom)
    answer = invoke(directive("Alexa.Discovery", "Discover", tokens["alice"]), alexa_schema)
    assert answer["event"]["payload"]["type"] == "INTERNAL_ERROR"


# --- state ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("camera", "connectivity"), [("Garage", "OK"), ("Shed", "UNREACHABLE"), ("Nursery", "OK")]
)
def test_report_state(accloud, tokens, alexa_schema, camera, connectivity) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)[camera]
    answer = invoke(
        directive("Alexa", "ReportState", tokens["alice"], endpoint_id=endpoint["endpointId"]), alexa_schema
    )
    assert answer["event"]["header"]["name"] == "StateReport"
    (prop,) = [p for p in answer["context"]["properties"] if p["name"] == "connectivity"]
    assert prop["value"] == {"value": connectivity}


def test_report_state_of_a_removed_device(accloud, tokens, alexa_schema) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Garage"]
    accloud.remove_device(demo_data.GARAGE)
    answer = invoke(
        directive("Alexa", "ReportState", tokens["alice"], endpoint_id=endpoint["endpointId"]), alexa_schema
    )
    assert answer["event"]["payload"]["type"] == "NO_SUCH_ENDPOINT"
