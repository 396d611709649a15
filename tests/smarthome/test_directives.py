"""Directive in -> response or error out, through lambda_handler.handler and the reference ACCloud.

Every answer is validated against Amazon's schema (tests/smarthome/conftest.py::invoke).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack import demo_data
from skill import warm
from tests.bombs import nest
from tests.smarthome.canned import Canned
from tests.smarthome.canned import bearer as _bearer
from tests.smarthome.canned import html as _html
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


def initialize_streams(token: str, endpoint: dict, schema, payload: dict | None = None) -> dict:
    """InitializeCameraStreams for ``endpoint`` as an Echo Show sends it (its cookie, every
    advertised configuration unless ``payload``), the answer validated against the schema."""
    return invoke(
        directive(
            "Alexa.CameraStreamController",
            "InitializeCameraStreams",
            token,
            endpoint_id=endpoint["endpointId"],
            cookie=endpoint.get("cookie"),
            payload=payload or stream_request_for(endpoint),
        ),
        schema,
    )


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
    answer = initialize_streams(tokens["alice"], endpoint, alexa_schema)
    (stream,) = answer["event"]["payload"]["cameraStreams"]
    assert (stream["resolution"]["width"], stream["resolution"]["height"]) == expected_resolution
    assert stream["audioCodec"] == expected_audio
    assert stream["uri"].startswith("rtsps://") and ":443/" in stream["uri"]
    assert stream["idleTimeoutSeconds"] >= 1 and stream["expirationTime"].endswith("Z")
    assert answer["event"]["payload"]["imageUri"].startswith("https://")
    assert stream["uri"] == accloud.minted_streams()[-1]["uri"]


def stream_directive(token: str, endpoint: dict) -> dict:
    """InitializeCameraStreams for ``endpoint`` with its cookie, asking for STREAM_REQUEST."""
    return directive(
        "Alexa.CameraStreamController",
        "InitializeCameraStreams",
        token,
        endpoint_id=endpoint["endpointId"],
        cookie=endpoint["cookie"],
        payload=STREAM_REQUEST,
    )


def test_warm_stream_directive_makes_one_accloud_call(accloud, tokens, alexa_schema) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    event = stream_directive(tokens["alice"], endpoint)
    invoke(event, alexa_schema)  # the token is now cached from discovery as well
    accloud.reset_request_counts()
    invoke(event, alexa_schema)
    assert sum(accloud.request_counts().values()) == 1


# --- error mapping --------------------------------------------------------------------------


def _stream_error(accloud, alexa_schema, token, endpoint) -> dict:
    answer = initialize_streams(token, endpoint, alexa_schema)
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


TOKEN_UNKNOWN = {"error": "invalid_token", "error_description": "token_unknown"}


def _point_accloud_at(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a changed DNS answer or a WAF in front of ACCloud does. The settings are read again;
    the warm container's token -> user cache stays."""
    monkeypatch.setenv("ZOSI_ACCLOUD_BASE_URL", base_url)
    warm.reset(keep=("skill.cloud.users.",))


INVALID, EXPIRED, OUTAGE = (
    "INVALID_AUTHORIZATION_CREDENTIAL",
    "EXPIRED_AUTHORIZATION_CREDENTIAL",
    "BRIDGE_UNREACHABLE",
)
DEEP_JSON = b'{"x":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
HUGE_JSON = b'{"devices":[' + b",".join([b"0"] * 1_500_000) + b"]}"
UNKNOWN_CHALLENGE = 'Bearer realm="accloud", error="invalid_token", error_description="token_unknown"'

# case -> (fault, value, Alexa error type). fault: a reference-ACCloud fault (set_fault with value), or
# "answer": the Canned answer ``value`` comes from whatever sits at ZOSI_ACCLOUD_BASE_URL.
ACCLOUD_FAILURES: dict[str, tuple[str, Any, str]] = {
    "401 token_unknown": ("invalid_token", None, INVALID),
    "401 token_expired": ("expired_token", None, EXPIRED),
    "503": ("status", 503, OUTAGE),
    "500": ("status", 500, OUTAGE),
    "truncated JSON": ("malformed", None, OUTAGE),
    "hangs": ("hang", 5, OUTAGE),
    "3 s late": ("latency", 3, OUTAGE),
    # Only ACCloud's RFC 6750 Bearer challenge makes a 401/403 an auth failure.
    "401 Bearer invalid_token": ("answer", _bearer(401, UNKNOWN_CHALLENGE, TOKEN_UNKNOWN), INVALID),
    "401 Bearer token_expired, unquoted": (
        "answer",
        _bearer(401, "bearer error=invalid_token, error_description=token_expired"),
        EXPIRED,
    ),
    "401 Bearer invalid_token, token_expired in the body": (
        "answer",
        _bearer(401, 'Bearer realm="accloud", error="invalid_token"', {"error_description": "token_expired"}),
        EXPIRED,
    ),
    "403 Bearer invalid_token": ("answer", _bearer(403, UNKNOWN_CHALLENGE, TOKEN_UNKNOWN), INVALID),
    # A token granted too few scopes: only a new link (new consent) fixes it.
    "403 Bearer insufficient_scope": (
        "answer",
        _bearer(403, 'Bearer realm="accloud", error="insufficient_scope", scope="devices streams"'),
        INVALID,
    ),
    # Anything else is an outage (a WAF, CDN or proxy speaking), never a reason to relink.
    "403 HTML block page": ("answer", _html(403), OUTAGE),
    "401 HTML page": ("answer", _html(401), OUTAGE),
    "401 Basic challenge": ("answer", _html(401, ("WWW-Authenticate", 'Basic realm="proxy"')), OUTAGE),
    "403 JSON without challenge": (
        "answer",
        Canned(403, json.dumps({"error": "forbidden"}).encode()),
        OUTAGE,
    ),
    "403 empty": ("answer", Canned(403), OUTAGE),
    "401 invalid_token body without challenge": (
        "answer",
        Canned(401, json.dumps(TOKEN_UNKNOWN).encode()),
        OUTAGE,
    ),
    "401 Bearer without error (our token never arrived)": (
        "answer",
        _bearer(401, 'Bearer realm="accloud"'),
        OUTAGE,
    ),
    "403 Bearer invalid_request": (
        "answer",
        _bearer(403, 'Bearer realm="accloud", error="invalid_request"'),
        OUTAGE,
    ),
    # Depth and size bombs (skill.bounded): were RecursionError -> INTERNAL_ERROR, or parsed at any size.
    "200 nested 20,000 deep": ("answer", Canned(200, DEEP_JSON), OUTAGE),
    "200 of 3 MB": ("answer", Canned(200, HUGE_JSON), OUTAGE),
    "409 nested 20,000 deep": ("answer", Canned(409, DEEP_JSON), OUTAGE),
    "401 Bearer invalid_token, body nested 20,000 deep": (
        "answer",
        Canned(401, DEEP_JSON, (("WWW-Authenticate", UNKNOWN_CHALLENGE),)),
        INVALID,
    ),
}


@pytest.mark.parametrize(
    ("fault", "value", "error_type"), ACCLOUD_FAILURES.values(), ids=ACCLOUD_FAILURES.keys()
)
def test_accloud_failures_map_to_the_right_error(
    accloud, canned_server, alexa_schema, monkeypatch, fault, value, error_type
) -> None:
    token = accloud.issue_token("alice")["access_token"]  # a fresh token: nothing cached
    endpoint = discover(accloud.issue_token("alice")["access_token"], alexa_schema)["Garage"]
    met_before = canned_server.requests
    if fault == "answer":
        canned_server.answer = value
        _point_accloud_at(canned_server.base_url, monkeypatch)
    else:
        accloud.set_fault(fault, value)
    try:
        payload = _stream_error(accloud, alexa_schema, token, endpoint)
    finally:
        accloud.clear_faults()
    assert payload["type"] == error_type
    assert (canned_server.requests > met_before) == (fault == "answer")


@pytest.mark.parametrize(
    ("answer", "forgotten"),
    [
        (_html(403), False),
        (Canned(401), False),
        (_bearer(401, UNKNOWN_CHALLENGE, TOKEN_UNKNOWN), True),
    ],
    ids=["403 HTML page", "401 empty", "401 Bearer invalid_token"],
)
def test_only_an_auth_failure_forgets_the_cached_caller(
    accloud, canned_server, tokens, alexa_schema, monkeypatch, answer, forgotten
) -> None:
    """A warm stream directive resolves its caller from the cache; an outage must not drop it, or
    every user would cost an extra ACCloud call (and face the outage twice) right after it."""
    endpoint = discover(tokens["alice"], alexa_schema)["Garage"]  # caches alice's token
    canned_server.answer = answer
    _point_accloud_at(canned_server.base_url, monkeypatch)
    expected = INVALID if forgotten else OUTAGE
    assert _stream_error(accloud, alexa_schema, tokens["alice"], endpoint)["type"] == expected

    _point_accloud_at(accloud.base_url, monkeypatch)
    accloud.reset_request_counts()
    answer = initialize_streams(tokens["alice"], endpoint, alexa_schema)
    assert answer["event"]["header"]["name"] == "Response"
    assert accloud.request_counts().get("GET /v1/me", 0) == (1 if forgotten else 0)


def test_expired_token_for_real(accloud, alexa_schema) -> None:
    issued = accloud.issue_token("alice")
    endpoint = discover(issued["access_token"], alexa_schema)["Garage"]
    other = accloud.issue_token("alice")["access_token"]
    accloud.expire_token(other)
    assert _stream_error(accloud, alexa_schema, other, endpoint)["type"] == "EXPIRED_AUTHORIZATION_CREDENTIAL"


@pytest.mark.parametrize("canned", [None, _html(403), _html(401)], ids=["502", "403 page", "401 page"])
def test_transient_failure_never_looks_like_an_auth_error_in_discovery(
    accloud, canned_server, tokens, alexa_schema, monkeypatch, canned
) -> None:
    if canned is None:
        accloud.set_fault("status", 502)
    else:
        canned_server.answer = canned
        _point_accloud_at(canned_server.base_url, monkeypatch)
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


def test_a_malformed_cookie_is_treated_as_absent(accloud, tokens, alexa_schema) -> None:
    """Too deep for json (was RecursionError -> INTERNAL_ERROR), too large, or not JSON: the stream
    directive asks ACCloud for the best requested profile, as for an endpoint without a cookie."""
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    for profiles in ("[" * 5000 + "]" * 5000, "[" * 2400 + "]" * 2400, "[" * 40 + "]" * 40, "[[", "x" * 6000):
        answer = initialize_streams(
            tokens["alice"], {**endpoint, "cookie": {"profiles": profiles}}, alexa_schema, STREAM_REQUEST
        )
        assert answer["event"]["header"]["name"] == "Response", answer
        (stream,) = answer["event"]["payload"]["cameraStreams"]
        assert (stream["resolution"], stream["audioCodec"]) == ({"width": 1920, "height": 1080}, "AAC")
        assert accloud.minted_streams()[-1]["profile"]["width"] == 1920


DEEP_DIRECTIVES = {
    "payload field 5,000 deep": lambda e: e["directive"]["payload"].update(extra=nest(5000)),
    "cookie value 5,000 deep": lambda e: e["directive"]["endpoint"]["cookie"].update(profiles=nest(5000)),
    "header namespace 5,000 deep": lambda e: e["directive"]["header"].update(namespace=nest(5000)),
    "payload just past the depth limit": lambda e: e["directive"]["payload"].update(extra=nest(40)),
    "payload list of 20,000 items": lambda e: e["directive"]["payload"].update(extra=[0] * 20_000),
}


@pytest.mark.parametrize("mutate", DEEP_DIRECTIVES.values(), ids=DEEP_DIRECTIVES.keys())
def test_deep_or_huge_directives_are_invalid_directives(accloud, tokens, alexa_schema, mutate) -> None:
    """Lambda hands the handler a decoded dict, which may still nest deeper than any later walk
    (str, json.dumps) survives: INVALID_DIRECTIVE before anything reads it, ACCloud never asked."""
    event = stream_directive(tokens["alice"], discover(tokens["alice"], alexa_schema)["Garage"])
    mutate(event)
    accloud.reset_request_counts()
    answer = invoke(event, alexa_schema)
    assert answer["event"]["payload"]["type"] == "INVALID_DIRECTIVE"
    assert accloud.request_counts() == {}


FOREIGN_PAYLOADS = {
    "no profile the camera has": {
        "cameraStreams": [{**STREAM_REQUEST["cameraStreams"][0], "videoCodec": "MJPEG"}]
    },
    "cameraStreams malformed": {"cameraStreams": "all"},
    "resolution malformed": {"cameraStreams": [{**STREAM_REQUEST["cameraStreams"][0], "resolution": {}}]},
}


@pytest.mark.parametrize("payload", FOREIGN_PAYLOADS.values(), ids=FOREIGN_PAYLOADS.keys())
def test_someone_elses_endpoint_is_no_such_endpoint_whatever_the_payload(
    accloud, tokens, alexa_schema, payload
) -> None:
    """Ownership first: Bob learns nothing about Alice's camera (was INVALID_VALUE / INVALID_DIRECTIVE)."""
    alices = discover(tokens["alice"], alexa_schema)["Front Door"]
    answer = initialize_streams(tokens["bob"], alices, alexa_schema, payload)
    assert answer["event"]["payload"]["type"] == "NO_SUCH_ENDPOINT"
    assert not accloud.minted_streams()
    own = initialize_streams(tokens["alice"], alices, alexa_schema, payload)  # the payload's own error
    assert own["event"]["payload"]["type"] in ("INVALID_VALUE", "INVALID_DIRECTIVE")


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
