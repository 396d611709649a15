"""Alexa.CameraStreamController.InitializeCameraStreams: the best configuration the camera really has,
device state and ACCloud failures mapped to Alexa's errors, malformed and oversized directives,
ownership before anything else, and the stream rules (skill/smarthome/stream_rules.py): an answer
Alexa cannot play never reaches Alexa as a success."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devstack.directives import advertised_streams
from tests.bombs import nest
from tests.smarthome.canned import Canned, bearer, html
from tests.smarthome.cases import Case, Expect, Send, World, error, fresh_token, stream_of

NAMESPACE = "Alexa.CameraStreamController"
NAME = "InitializeCameraStreams"

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


def advertised(world: World) -> dict[str, Any]:
    """What an Echo Show asks for: every configuration the endpoint advertised."""
    return advertised_streams(world.endpoint)


def stream(camera: str, payload: Any = advertised, **send: Any) -> Send:
    return Send(NAMESPACE, NAME, camera=camera, payload=payload, **send)


def streamed(check: Callable[[World], None]) -> Expect:
    """The stream answer: an Alexa.CameraStreamController Response, then ``check``."""
    return Expect("Response", NAMESPACE, check=check)


def nothing_minted(world: World) -> None:
    assert not world.accloud.minted_streams()


# --- the best configuration the camera really has --------------------------------------------------


def best(resolution: tuple[int, int], audio: str) -> Expect:
    def check(world: World) -> None:
        got = stream_of(world)
        assert (got["resolution"]["width"], got["resolution"]["height"]) == resolution
        assert got["audioCodec"] == audio
        assert got["uri"].startswith("rtsps://") and ":443/" in got["uri"]
        assert got["idleTimeoutSeconds"] >= 1 and got["expirationTime"].endswith("Z")
        assert world.answer["event"]["payload"]["imageUri"].startswith("https://")
        assert got["uri"] == world.accloud.minted_streams()[-1]["uri"]

    return streamed(check)


BEST = [
    Case("best configuration: Front Door", stream("Front Door"), best((1920, 1080), "AAC")),
    Case("best configuration: Garage", stream("Garage"), best((1280, 720), "G711")),
    Case("best configuration: Back Yard", stream("Back Yard"), best((2560, 1440), "AAC")),
]


# --- device state -----------------------------------------------------------------------------------

DEVICE_STATE = [
    Case("camera offline", stream("Shed"), error("ENDPOINT_UNREACHABLE")),
    Case("its NVR offline", stream("Workshop"), error("BRIDGE_UNREACHABLE")),
    Case(
        "privacy mode",
        stream("Nursery"),
        Expect(
            "ErrorResponse",
            error="NOT_SUPPORTED_IN_CURRENT_MODE",
            fields={"event/payload/currentDeviceMode": "OTHER"},
        ),
    ),
    Case(
        "another user's endpoint",
        stream("Front Door", caller="bob"),
        error("NO_SUCH_ENDPOINT", check=nothing_minted),
    ),
]


# --- ACCloud failures: only ACCloud's RFC 6750 Bearer challenge makes a 401/403 an auth failure ----------

INVALID, EXPIRED, OUTAGE = (
    "INVALID_AUTHORIZATION_CREDENTIAL",
    "EXPIRED_AUTHORIZATION_CREDENTIAL",
    "BRIDGE_UNREACHABLE",
)
DEEP_JSON = b'{"x":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
HUGE_JSON = b'{"devices":[' + b",".join([b"0"] * 1_500_000) + b"]}"
UNKNOWN_CHALLENGE = 'Bearer realm="accloud", error="invalid_token", error_description="token_unknown"'
TOKEN_UNKNOWN = {"error": "invalid_token", "error_description": "token_unknown"}

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
    "401 Bearer invalid_token": ("answer", bearer(401, UNKNOWN_CHALLENGE, TOKEN_UNKNOWN), INVALID),
    "401 Bearer token_expired, unquoted": (
        "answer",
        bearer(401, "bearer error=invalid_token, error_description=token_expired"),
        EXPIRED,
    ),
    "401 Bearer invalid_token, token_expired in the body": (
        "answer",
        bearer(401, 'Bearer realm="accloud", error="invalid_token"', {"error_description": "token_expired"}),
        EXPIRED,
    ),
    "403 Bearer invalid_token": ("answer", bearer(403, UNKNOWN_CHALLENGE, TOKEN_UNKNOWN), INVALID),
    # A token granted too few scopes: only a new link (new consent) fixes it.
    "403 Bearer insufficient_scope": (
        "answer",
        bearer(403, 'Bearer realm="accloud", error="insufficient_scope", scope="devices streams"'),
        INVALID,
    ),
    # Anything else is an outage (a WAF, CDN or proxy speaking), never a reason to relink.
    "403 HTML block page": ("answer", html(403), OUTAGE),
    "401 HTML page": ("answer", html(401), OUTAGE),
    "401 Basic challenge": ("answer", html(401, ("WWW-Authenticate", 'Basic realm="proxy"')), OUTAGE),
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
        bearer(401, 'Bearer realm="accloud"'),
        OUTAGE,
    ),
    "403 Bearer invalid_request": (
        "answer",
        bearer(403, 'Bearer realm="accloud", error="invalid_request"'),
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


def accloud_fails(fault: str, value: Any) -> Callable[[World], None]:
    def given(world: World) -> None:
        if fault == "answer":
            world.answer_with(value)
        else:
            world.accloud.set_fault(fault, value)

    return given


def canned_asked(asked: bool) -> Callable[[World], None]:
    def check(world: World) -> None:
        assert (world.canned.requests > world.canned_before) == asked

    return check


def expired_token(world: World) -> str:
    """A second token of Alice's that ACCloud expired (the one discovery used stays valid)."""
    token = str(world.accloud.issue_token("alice")["access_token"])
    world.accloud.expire_token(token)
    return token


FAILURES = [
    Case("a token ACCloud expired", stream("Garage", token=expired_token), error(EXPIRED)),
    *(
        Case(
            f"ACCloud {label}",
            stream("Garage", token=fresh_token()),  # a fresh token: nothing cached
            error(error_type, check=canned_asked(fault == "answer")),
            given=accloud_fails(fault, value),
        )
        for label, (fault, value, error_type) in ACCLOUD_FAILURES.items()
    ),
]


# --- malformed directives ---------------------------------------------------------------------------


def _header(**fields: Any) -> Callable[[dict[str, Any]], object]:
    return lambda e: e["directive"]["header"].update(fields)


MALFORMED = {
    "unknown namespace": (_header(namespace="Alexa.Nope"), "INVALID_DIRECTIVE"),
    "unknown name": (_header(name="Explode"), "INVALID_DIRECTIVE"),
    "payloadVersion 2": (_header(payloadVersion="2"), "INVALID_DIRECTIVE"),
    "no scope": (lambda e: e["directive"]["endpoint"].pop("scope"), "INVALID_DIRECTIVE"),
    "endpointId z1_bogus": (
        lambda e: e["directive"]["endpoint"].update(endpointId="z1_bogus"),
        "NO_SUCH_ENDPOINT",
    ),
    "endpointId not ours": (
        lambda e: e["directive"]["endpoint"].update(endpointId="not-ours"),
        "NO_SUCH_ENDPOINT",
    ),
    "cameraStreams not a list": (
        lambda e: e["directive"]["payload"].update(cameraStreams="all"),
        "INVALID_DIRECTIVE",
    ),
    "payload a list": (lambda e: e["directive"].update(payload=[]), "INVALID_DIRECTIVE"),
}


def _generic(error_type: str) -> Expect:
    """Alexa's generic error, whatever the header said the namespace was."""
    return error(error_type)


MALFORMED_CASES = [
    Case(f"malformed: {label}", stream("Garage", STREAM_REQUEST, mutate=mutate), _generic(error_type))
    for label, (mutate, error_type) in MALFORMED.items()
]

# Too deep for json (was RecursionError -> INTERNAL_ERROR), too large, or not JSON: the stream
# directive asks ACCloud for the best requested profile, as for an endpoint without a cookie.
BAD_COOKIES = {
    "5,000 deep": "[" * 5000 + "]" * 5000,
    "2,400 deep": "[" * 2400 + "]" * 2400,
    "40 deep": "[" * 40 + "]" * 40,
    "not JSON": "[[",
    "6,000 bytes": "x" * 6000,
}


def cookie_profiles(profiles: str) -> Callable[[dict[str, Any]], object]:
    return lambda e: e["directive"]["endpoint"].update(cookie={"profiles": profiles})


def best_requested(world: World) -> None:
    got = stream_of(world)
    assert (got["resolution"], got["audioCodec"]) == ({"width": 1920, "height": 1080}, "AAC")
    assert world.accloud.minted_streams()[-1]["profile"]["width"] == 1920


COOKIE_CASES = [
    Case(
        f"malformed cookie treated as absent: {label}",
        stream("Front Door", STREAM_REQUEST, mutate=cookie_profiles(profiles)),
        streamed(best_requested),
    )
    for label, profiles in BAD_COOKIES.items()
]

# Lambda hands the handler a decoded dict, which may still nest deeper than any later walk
# (str, json.dumps) survives: INVALID_DIRECTIVE before anything reads it, ACCloud never asked.
DEEP_DIRECTIVES = {
    "payload field 5,000 deep": lambda e: e["directive"]["payload"].update(extra=nest(5000)),
    "cookie value 5,000 deep": lambda e: e["directive"]["endpoint"]["cookie"].update(profiles=nest(5000)),
    "header namespace 5,000 deep": lambda e: e["directive"]["header"].update(namespace=nest(5000)),
    "payload just past the depth limit": lambda e: e["directive"]["payload"].update(extra=nest(40)),
    "payload list of 20,000 items": lambda e: e["directive"]["payload"].update(extra=[0] * 20_000),
}


def accloud_not_asked(world: World) -> None:
    assert world.accloud.request_counts() == {}


DEEP_CASES = [
    Case(
        f"deep or huge: {label}",
        stream("Garage", STREAM_REQUEST, mutate=mutate),
        error("INVALID_DIRECTIVE", check=accloud_not_asked),
        given=lambda world: world.accloud.reset_request_counts(),
    )
    for label, mutate in DEEP_DIRECTIVES.items()
]

# Ownership first: Bob learns nothing about Alice's camera (was INVALID_VALUE / INVALID_DIRECTIVE);
# Alice gets the payload's own error.
FOREIGN_PAYLOADS = {
    "no profile the camera has": (
        {"cameraStreams": [{**STREAM_REQUEST["cameraStreams"][0], "videoCodec": "MJPEG"}]},
        "INVALID_VALUE",
    ),
    "cameraStreams malformed": ({"cameraStreams": "all"}, "INVALID_DIRECTIVE"),
    "resolution malformed": (
        {"cameraStreams": [{**STREAM_REQUEST["cameraStreams"][0], "resolution": {}}]},
        "INVALID_DIRECTIVE",
    ),
}

OWNERSHIP_CASES = [
    case
    for label, (payload, own_error) in FOREIGN_PAYLOADS.items()
    for case in (
        Case(
            f"someone else's endpoint, {label}",
            stream("Front Door", payload, caller="bob"),
            error("NO_SUCH_ENDPOINT", check=nothing_minted),
        ),
        Case(f"own endpoint, {label}", stream("Front Door", payload), error(own_error)),
    )
]


# --- stream rules: what the mint answers, and whether Alexa gets it ------------------------------------

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


def mint_returns(changes: dict[str, Any]) -> Callable[[World], None]:
    """Make the reference ACCloud's mints answer with some fields replaced."""

    def given(world: World) -> None:
        cloud = world.accloud._cloud
        real = cloud.mint_stream

        def mint(user_id: str, device_id: str, profile: Any) -> dict[str, Any]:
            return {**real(user_id, device_id, profile), **changes}

        world.monkeypatch.setattr(cloud, "mint_stream", mint)

    return given


def refused_and_only_the_reason_logged(changes: dict[str, Any], reason: str) -> Callable[[World], None]:
    def check(world: World) -> None:
        refusals = world.logged("unplayable stream answer refused")
        assert [getattr(r, "fields", None) for r in refusals] == [{"reason": reason}]
        minted = world.accloud.minted_streams()[-1] | changes
        records = [getattr(r, "fields", None) for r in world.caplog.records]
        logged = world.caplog.text + json.dumps(records, default=str)
        for value in (minted["uri"], minted["snapshot_uri"]):
            assert value not in logged
        assert minted["uri"] not in json.dumps(world.answer)

    return check


def reaches_alexa_unchanged(changes: dict[str, Any]) -> Callable[[World], None]:
    def check(world: World) -> None:
        minted = world.accloud.minted_streams()[-1] | changes
        got = stream_of(world)
        assert got["uri"] == minted["uri"]
        assert world.answer["event"]["payload"]["imageUri"] == minted["snapshot_uri"]
        assert got["authorizationType"] == minted["authorization_type"]

    return check


def asking_for(authorization: str) -> Callable[[World], dict[str, Any]]:
    def payload(world: World) -> dict[str, Any]:
        request = advertised_streams(world.endpoint)
        for wanted in request["cameraStreams"]:
            wanted["authorizationType"] = authorization
        return request

    return payload


def answered_with(authorization: str) -> Callable[[World], None]:
    def check(world: World) -> None:
        assert stream_of(world)["authorizationType"] == authorization

    return check


# asked, answered -> accepted: the authorization type must be one asked for or advertised
AUTHORIZATION_TYPES = [
    ("DIGEST", "DIGEST", True),  # the directive asked for it
    ("BASIC", "BASIC", True),
    ("BASIC", "DIGEST", False),
    ("BEARER", "NONE", True),  # what discovery advertises is always agreed
    ("BEARER", "BASIC", False),
]

STREAM_RULES = [
    *(
        Case(
            f"unplayable answer refused: {reason} {sorted(changes.items())}",
            stream("Front Door"),
            # never an auth error: no unlinking
            error("INTERNAL_ERROR", check=refused_and_only_the_reason_logged(changes, reason)),
            given=mint_returns(changes),
        )
        for changes, reason in BAD_ANSWERS
    ),
    *(
        Case(
            f"playable answer reaches Alexa unchanged: {sorted(changes.items())}",
            stream("Front Door"),
            streamed(reaches_alexa_unchanged(changes)),
            given=mint_returns(changes),
        )
        for changes in GOOD_ANSWERS
    ),
    *(
        Case(
            f"authorization asked {asked}, answered {answered}",
            stream("Garage", asking_for(asked)),
            streamed(answered_with(answered)) if accepted else error("INTERNAL_ERROR"),
            given=mint_returns({"authorization_type": answered}),
        )
        for asked, answered, accepted in AUTHORIZATION_TYPES
    ),
]


# --- discovery edges the stream path must cope with --------------------------------------------------

MANY_PROFILES = [
    {
        "protocol": "RTSP",
        "width": 4000 - 8 * i,
        "height": 3000 - 6 * i,
        "video_codec": "H264",
        "audio_codec": "AAC",
    }
    for i in range(200)
]


def streams_the_best_without_a_cookie(world: World) -> None:
    assert "cookie" not in world.endpoint and "cookie" in world.endpoints["Front Door"]
    assert stream_of(world)["resolution"] == {"width": 4000, "height": 3000}  # still the best one
    assert world.accloud.minted_streams()[-1]["profile"]["width"] == 4000


EDGES = [
    Case(
        "a camera with too many profiles for the cookie still streams",
        stream("Lobby"),  # no cookie to echo
        streamed(streams_the_best_without_a_cookie),
        seed=lambda world: world.accloud.add_device("alice", "Lobby", profiles=list(reversed(MANY_PROFILES))),
    ),
]

CASES = [
    *BEST,
    *DEVICE_STATE,
    *FAILURES,
    *MALFORMED_CASES,
    *COOKIE_CASES,
    *DEEP_CASES,
    *OWNERSHIP_CASES,
    *STREAM_RULES,
    *EDGES,
]
