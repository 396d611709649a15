"""Alexa.RTCSessionController through the skill, proven with a real WebRTC connection.

An aiortc client plays the Echo Show: its SDP offer goes through lambda_handler.handler as an
InitiateSessionWithOffer directive, the skill relays it to the reference ACCloud whose aiortc
peer answers; the client applies the answer from the response and must receive video frames.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devstack.demo_data import FRONT_DOOR
from devstack.echo_client import EchoShowClient
from devstack.webrtc_peer import WebRTCPeerHost
from tests.smarthome.conftest import directive, discover, invoke

NAMESPACE = "Alexa.RTCSessionController"


@pytest.fixture(scope="module")
def peer_host() -> Iterator[WebRTCPeerHost]:
    with WebRTCPeerHost(idle_timeout=20.0) as host:
        yield host


@pytest.fixture
def rtc_cloud(accloud, peer_host):
    accloud.set_answerer(peer_host)
    yield accloud
    accloud.set_answerer(None)


def offer_directive(token: str, endpoint_id: str, session_id: str, sdp: str) -> dict:
    return directive(
        NAMESPACE,
        "InitiateSessionWithOffer",
        token,
        endpoint_id=endpoint_id,
        payload={"sessionId": session_id, "offer": {"format": "SDP", "value": sdp}},
    )


def test_echo_show_receives_frames_through_the_skill(
    rtc_cloud, tokens, alexa_schema, peer_host, caplog
) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    (rtc,) = [c for c in endpoint["capabilities"] if c["interface"] == NAMESPACE]
    assert rtc["configuration"]["isFullDuplexAudioSupported"] is True
    session = str(uuid.uuid4())
    with EchoShowClient() as echo:
        offer = echo.create_offer(audio=True)
        answer = invoke(
            offer_directive(tokens["alice"], endpoint["endpointId"], session, offer), alexa_schema
        )
        assert answer["event"]["header"]["name"] == "AnswerGeneratedForSession"
        sdp = answer["event"]["payload"]["answer"]["value"]
        assert "a=candidate" in sdp  # complete answer: Alexa does not trickle ICE
        echo.apply_answer(sdp)
        assert echo.wait_for_frames(5, timeout=15) >= 5
        assert echo.wait_for_audio_frames(5, timeout=10) >= 5  # the doorbell talks back

        connected = invoke(
            directive(
                NAMESPACE,
                "SessionConnected",
                tokens["alice"],
                endpoint_id=endpoint["endpointId"],
                payload={"sessionId": session},
            ),
            alexa_schema,
        )
        assert connected["event"]["payload"] == {"sessionId": session}
        assert rtc_cloud.rtc_sessions(_device_of(rtc_cloud, "Front Door"))[session] == "connected"

        gone = invoke(
            directive(
                NAMESPACE,
                "SessionDisconnected",
                tokens["alice"],
                endpoint_id=endpoint["endpointId"],
                payload={"sessionId": session},
            ),
            alexa_schema,
        )
        assert gone["event"]["header"]["name"] == "SessionDisconnected"
        assert session not in peer_host.active_sessions()
    assert offer[:20] not in caplog.text and "a=candidate" not in caplog.text


def _device_of(cloud, name: str) -> str:
    return next(d["id"] for d in cloud.devices("alice") if d["name"] == name)


def test_one_way_camera_advertises_no_full_duplex(rtc_cloud, tokens, alexa_schema) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Back Yard"]
    (rtc,) = [c for c in endpoint["capabilities"] if c["interface"] == NAMESPACE]
    assert rtc["configuration"]["isFullDuplexAudioSupported"] is False


@pytest.mark.parametrize(
    ("change", "error_type"),
    [
        (lambda cloud: cloud.set_privacy(FRONT_DOOR, True), "NOT_SUPPORTED_IN_CURRENT_MODE"),
        (lambda cloud: cloud.set_online(FRONT_DOOR, False), "ENDPOINT_UNREACHABLE"),
        (lambda cloud: cloud.set_fault("status", 503), "BRIDGE_UNREACHABLE"),
        (lambda cloud: cloud.set_fault("invalid_token"), "INVALID_AUTHORIZATION_CREDENTIAL"),
    ],
)
def test_offer_errors_follow_the_stream_mapping(rtc_cloud, alexa_schema, change, error_type) -> None:
    token = rtc_cloud.issue_token("alice")["access_token"]
    endpoint = discover(rtc_cloud.issue_token("alice")["access_token"], alexa_schema)["Front Door"]
    with EchoShowClient() as echo:
        offer = echo.create_offer(audio=False)
    change(rtc_cloud)
    try:
        answer = invoke(offer_directive(token, endpoint["endpointId"], "s-1", offer), alexa_schema)
    finally:
        rtc_cloud.clear_faults()
    assert answer["event"]["payload"]["type"] == error_type


def test_offer_to_someone_elses_camera(rtc_cloud, tokens, alexa_schema) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    answer = invoke(offer_directive(tokens["bob"], endpoint["endpointId"], "s-2", "v=0\r\n"), alexa_schema)
    assert answer["event"]["payload"]["type"] == "NO_SUCH_ENDPOINT"


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        (
            "InitiateSessionWithOffer",
            {"sessionId": "bad id/with slash", "offer": {"format": "SDP", "value": "v=0"}},
        ),
        ("InitiateSessionWithOffer", {"sessionId": "s-3", "offer": {"format": "JSON", "value": "v=0"}}),
        ("SessionConnected", {}),
        ("SessionDisconnected", {"sessionId": ".."}),
    ],
)
def test_someone_elses_camera_is_no_such_endpoint_whatever_the_payload(
    rtc_cloud, tokens, alexa_schema, name, payload
) -> None:
    """Ownership first (was INVALID_DIRECTIVE): nothing in the answer depends on Alice's endpoint."""
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    event = directive(NAMESPACE, name, tokens["bob"], endpoint_id=endpoint["endpointId"], payload=payload)
    assert invoke(event, alexa_schema)["event"]["payload"]["type"] == "NO_SUCH_ENDPOINT"


@pytest.mark.parametrize(
    "payload",
    [
        {"sessionId": "s", "offer": {"format": "JSON", "value": "v=0"}},
        {"sessionId": "s", "offer": {"format": "SDP", "value": "hello"}},
        {"sessionId": "", "offer": {"format": "SDP", "value": "v=0\r\n"}},
        {"sessionId": "bad id/with slash", "offer": {"format": "SDP", "value": "v=0\r\n"}},
        {"offer": {"format": "SDP", "value": "v=0\r\n"}},
    ],
)
def test_malformed_offers_are_invalid_directives(rtc_cloud, tokens, alexa_schema, payload) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    event = directive(
        NAMESPACE,
        "InitiateSessionWithOffer",
        tokens["alice"],
        endpoint_id=endpoint["endpointId"],
        payload=payload,
    )
    assert invoke(event, alexa_schema)["event"]["payload"]["type"] == "INVALID_DIRECTIVE"


# SessionConnected only notifies: a session ACCloud no longer knows (expired, ACCloud restarted) is
# acknowledged, not NO_SUCH_ENDPOINT, which would tell Alexa the camera is gone. Ownership is still
# checked before ACCloud is asked, and ACCloud failures keep their usual mapping.
@pytest.mark.parametrize(
    ("user", "fault", "expected", "accloud_asked"),
    [
        ("alice", None, "SessionConnected", True),  # ACCloud answers 404: no such open session
        ("bob", None, "NO_SUCH_ENDPOINT", False),  # Alice's endpointId does not open for Bob
        ("alice", 503, "BRIDGE_UNREACHABLE", True),
    ],
)
def test_session_connected_for_a_session_accloud_does_not_know(
    accloud, tokens, alexa_schema, user, fault, expected, accloud_asked
) -> None:
    from devstack.demo_data import ALICE_ID
    from skill.privacy import pseudonyms

    event = directive(
        NAMESPACE,
        "SessionConnected",
        tokens[user],
        endpoint_id=pseudonyms.endpoint_id(ALICE_ID, FRONT_DOOR),
        payload={"sessionId": "never-opened"},
    )
    if fault is not None:
        accloud.set_fault("status", fault, path_prefix="/v1/devices/")  # /v1/me still answers
    try:
        answer = invoke(event, alexa_schema)
    finally:
        accloud.clear_faults()
    header, payload = answer["event"]["header"], answer["event"]["payload"]
    assert (payload.get("type") or header["name"]) == expected
    if expected == "SessionConnected":
        assert (header["namespace"], payload) == (NAMESPACE, {"sessionId": "never-opened"})
    connected_calls = [path for path in accloud.request_counts() if path.endswith("/never-opened/connected")]
    assert bool(connected_calls) == accloud_asked
    assert accloud.rtc_sessions(FRONT_DOOR) == {}  # nothing was opened by acknowledging
