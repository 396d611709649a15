"""Alexa.RTCSessionController through the skill, proven with a real WebRTC connection.

An aiortc client plays the Echo Show: its SDP offer goes through lambda_handler.handler as an
InitiateSessionWithOffer directive, the skill relays it to the reference ACCloud whose aiortc
peer answers; the client applies the answer from the response and must receive video frames.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devstack import directives
from devstack.echo_client import EchoShowClient
from devstack.webrtc_peer import WebRTCPeerHost
from tests.smarthome.conftest import discover, invoke

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


def test_echo_show_receives_frames_through_the_skill(
    rtc_cloud, tokens, alexa_schema, peer_host, caplog
) -> None:
    endpoint = discover(tokens["alice"], alexa_schema)["Front Door"]
    (rtc,) = [c for c in endpoint["capabilities"] if c["interface"] == NAMESPACE]
    assert rtc["configuration"]["isFullDuplexAudioSupported"] is True
    session = str(uuid.uuid4())

    def session_directive(name: str) -> dict:
        return directives.directive(
            NAMESPACE, name, tokens["alice"], endpoint=endpoint, payload={"sessionId": session}
        )

    with EchoShowClient() as echo:
        offer = echo.create_offer(audio=True)
        answer = invoke(directives.offer(tokens["alice"], endpoint, offer, session), alexa_schema)
        assert answer["event"]["header"]["name"] == "AnswerGeneratedForSession"
        sdp = answer["event"]["payload"]["answer"]["value"]
        assert "a=candidate" in sdp  # complete answer: Alexa does not trickle ICE
        echo.apply_answer(sdp)
        assert echo.wait_for_frames(5, timeout=15) >= 5
        assert echo.wait_for_audio_frames(5, timeout=10) >= 5  # the doorbell talks back

        connected = invoke(session_directive("SessionConnected"), alexa_schema)
        assert connected["event"]["payload"] == {"sessionId": session}
        assert rtc_cloud.rtc_sessions(_device_of(rtc_cloud, "Front Door"))[session] == "connected"

        gone = invoke(session_directive("SessionDisconnected"), alexa_schema)
        assert gone["event"]["header"]["name"] == "SessionDisconnected"
        assert session not in peer_host.active_sessions()
    assert offer[:20] not in caplog.text and "a=candidate" not in caplog.text


def _device_of(cloud, name: str) -> str:
    return next(d["id"] for d in cloud.devices("alice") if d["name"] == name)
