"""Alexa.RTCSessionController: offers refused with the stream path's error mapping, ownership before
the payload, malformed offers, and SessionConnected for a session ACCloud does not know. The real
WebRTC connection (frames through the skill) stays in test_rtc.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.demo_data import FRONT_DOOR
from tests.smarthome.cases import Case, Expect, Send, World, error, fresh_token

NAMESPACE = "Alexa.RTCSessionController"
# A small, well-formed offer: the errors below are decided before any peer would see it.
OFFER_SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n"
)


def offer(session_id: str, sdp: str, fmt: str = "SDP") -> dict[str, Any]:
    return {"sessionId": session_id, "offer": {"format": fmt, "value": sdp}}


def to_front_door(name: str, payload: dict[str, Any], caller: str = "alice") -> Send:
    return Send(NAMESPACE, name, camera="Front Door", caller=caller, payload=payload)


OFFER_ERRORS: list[tuple[str, Callable[[Any], object], str]] = [
    ("privacy mode", lambda cloud: cloud.set_privacy(FRONT_DOOR, True), "NOT_SUPPORTED_IN_CURRENT_MODE"),
    ("camera offline", lambda cloud: cloud.set_online(FRONT_DOOR, False), "ENDPOINT_UNREACHABLE"),
    ("ACCloud 503", lambda cloud: cloud.set_fault("status", 503), "BRIDGE_UNREACHABLE"),
    ("token invalid", lambda cloud: cloud.set_fault("invalid_token"), "INVALID_AUTHORIZATION_CREDENTIAL"),
]

# Ownership first (was INVALID_DIRECTIVE): nothing in the answer depends on Alice's endpoint.
FOREIGN_PAYLOADS = {
    "offer with a bad session id": ("InitiateSessionWithOffer", offer("bad id/with slash", "v=0")),
    "offer not SDP": ("InitiateSessionWithOffer", offer("s-3", "v=0", "JSON")),
    "SessionConnected without a session": ("SessionConnected", {}),
    "SessionDisconnected of ..": ("SessionDisconnected", {"sessionId": ".."}),
}

MALFORMED_OFFERS = {
    "format JSON": offer("s", "v=0", "JSON"),
    "not SDP": offer("s", "hello"),
    "empty session id": offer("", "v=0\r\n"),
    "session id with a slash": offer("bad id/with slash", "v=0\r\n"),
    "no session id": {"offer": {"format": "SDP", "value": "v=0\r\n"}},
}


# SessionConnected only notifies: a session ACCloud no longer knows (expired, ACCloud restarted) is
# acknowledged, not NO_SUCH_ENDPOINT, which would tell Alexa the camera is gone. Ownership is still
# checked before ACCloud is asked, and ACCloud failures keep their usual mapping.
def never_opened(accloud_asked: bool) -> Callable[[World], None]:
    def check(world: World) -> None:
        asked = [path for path in world.accloud.request_counts() if path.endswith("/never-opened/connected")]
        assert bool(asked) == accloud_asked
        assert world.accloud.rtc_sessions(FRONT_DOOR) == {}  # nothing was opened by acknowledging

    return check


def devices_answer(status: int) -> Callable[[World], None]:
    return lambda world: world.accloud.set_fault(
        "status", status, path_prefix="/v1/devices/"
    )  # /v1/me answers


NEVER_OPENED = {"sessionId": "never-opened"}

CASES = [
    *(
        Case(
            f"offer refused: {label}",
            Send(
                NAMESPACE,
                "InitiateSessionWithOffer",
                camera="Front Door",
                payload=offer("s-1", OFFER_SDP),
                token=fresh_token(),
            ),  # a token the container never saw
            error(error_type),
            given=lambda world, change=change: change(world.accloud),  # type: ignore[misc]
        )
        for label, change, error_type in OFFER_ERRORS
    ),
    Case(
        "offer to someone else's camera",
        to_front_door("InitiateSessionWithOffer", offer("s-2", "v=0\r\n"), caller="bob"),
        error("NO_SUCH_ENDPOINT"),
    ),
    *(
        Case(
            f"someone else's camera, {label}",
            to_front_door(name, payload, caller="bob"),
            error("NO_SUCH_ENDPOINT"),
        )
        for label, (name, payload) in FOREIGN_PAYLOADS.items()
    ),
    *(
        Case(
            f"malformed offer: {label}",
            to_front_door("InitiateSessionWithOffer", payload),
            error("INVALID_DIRECTIVE"),
        )
        for label, payload in MALFORMED_OFFERS.items()
    ),
    Case(
        "SessionConnected for a session ACCloud does not know",
        to_front_door("SessionConnected", NEVER_OPENED),  # ACCloud answers 404: no such open session
        Expect(
            "SessionConnected", NAMESPACE, fields={"event/payload": NEVER_OPENED}, check=never_opened(True)
        ),
    ),
    Case(
        "SessionConnected for someone else's camera",
        to_front_door("SessionConnected", NEVER_OPENED, caller="bob"),  # the endpointId does not open for Bob
        error("NO_SUCH_ENDPOINT", check=never_opened(False)),
    ),
    Case(
        "SessionConnected while ACCloud is down",
        to_front_door("SessionConnected", NEVER_OPENED),
        error("BRIDGE_UNREACHABLE", check=never_opened(True)),
        given=devices_answer(503),
    ),
]
