"""Real WebRTC sessions over loopback: EchoShowClient (the Alexa side) against WebRTCPeerHost (camera)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from devstack.echo_client import EchoShowClient
from devstack.webrtc_peer import (
    AnswerTimeoutError,
    ColourBarsVideoTrack,
    InvalidOfferError,
    PeerCapacityError,
    PeerHostClosedError,
    UnsupportedOfferError,
    WebRTCPeerError,
    WebRTCPeerHost,
    video_size_for,
)
from skill.cloud.contract import Device, StreamProfile

FRAMES = 5
FRAME_TIMEOUT = 10.0
_session_ids = (f"session-{n}" for n in itertools.count())


@dataclass(frozen=True)
class Camera:
    """The duck-typed device the reference ACCloud server hands to the host."""

    two_way_audio: bool
    webrtc_resolution: tuple[int, int] | None = None


@dataclass(frozen=True)
class AccloudJsonDevice:
    """A device whose profiles are still ACCloud JSON dicts."""

    stream_profiles: list[dict[str, object]]


@pytest.fixture(scope="module")
def host() -> Iterator[WebRTCPeerHost]:
    with WebRTCPeerHost() as peer_host:
        yield peer_host


@pytest.fixture
def client() -> Iterator[EchoShowClient]:
    with EchoShowClient() as echo:
        yield echo


# --- SDP reading and editing (test-side only) -----------------------------------------------


def media_sections(sdp: str) -> list[list[str]]:
    """The media sections of `sdp`, each a list of its lines starting with its m= line."""
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([])
        if sections:
            sections[-1].append(line)
    return sections


def section(sdp: str, kind: str) -> list[str] | None:
    return next((s for s in media_sections(sdp) if s[0].startswith(f"m={kind} ")), None)


def codec_names(lines: list[str]) -> list[str]:
    """Codec names in payload-type order of the m= line, without RTX."""
    names = {}
    for line in lines:
        if line.startswith("a=rtpmap:"):
            payload_type, encoding = line.removeprefix("a=rtpmap:").split(" ", 1)
            names[payload_type] = encoding.split("/")[0].upper()
    order = lines[0].split()[3:]
    return [names[pt] for pt in order if pt in names and names[pt] != "RTX"]


def direction(lines: list[str]) -> str:
    return next(
        line[2:] for line in lines if line in {"a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"}
    )


def edit_section(sdp: str, kind: str, edit: Callable[[list[str]], list[str]]) -> str:
    """`sdp` with the `kind` media section replaced by `edit(its lines)`."""
    blocks: list[list[str]] = [[]]
    for line in sdp.strip().split("\r\n"):
        if line.startswith("m="):
            blocks.append([])
        blocks[-1].append(line)
    edited = [blocks[0]] + [edit(b) if b[0].startswith(f"m={kind} ") else b for b in blocks[1:]]
    return "\r\n".join(itertools.chain.from_iterable(edited)) + "\r\n"


def rename_video_codecs(lines: list[str]) -> list[str]:
    """Every non-RTX video codec becomes H265, which aiortc cannot send."""
    return [
        line.split(" ")[0] + " H265/90000" if line.startswith("a=rtpmap:") and "rtx/" not in line else line
        for line in lines
    ]


def set_direction(new_direction: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [f"a={new_direction}" if line == f"a={direction(lines)}" else line for line in lines]


def drop_section(lines: list[str]) -> list[str]:
    return []


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --- sessions that stream -------------------------------------------------------------------

STREAM_CASES = [
    # offered video codecs, offer audio?, camera, answered codec, audio from camera?, picture size
    pytest.param(
        ("H264", "VP8"), True, Camera(True, (1920, 1080)), "H264", True, (640, 360), id="h264-two-way"
    ),
    pytest.param(("VP8",), True, Camera(False, (640, 480)), "VP8", False, (480, 360), id="vp8-one-way"),
    pytest.param(
        ("H264",), False, Camera(True), "H264", False, (640, 360), id="two-way-camera-no-audio-offered"
    ),
]


@pytest.mark.parametrize(("offered", "offer_audio", "camera", "codec", "camera_audio", "size"), STREAM_CASES)
def test_session_streams_video_over_loopback(
    host: WebRTCPeerHost,
    client: EchoShowClient,
    offered: tuple[str, ...],
    offer_audio: bool,
    camera: Camera,
    codec: str,
    camera_audio: bool,
    size: tuple[int, int],
) -> None:
    session_id = next(_session_ids)
    offer = client.create_offer(audio=offer_audio, video_codecs=offered)
    answer = host.answer(session_id, offer, camera)
    client.apply_answer(answer)
    try:
        assert client.wait_for_frames(FRAMES, FRAME_TIMEOUT) >= FRAMES
        assert client.last_video_size == size

        video = section(answer, "video")
        assert video is not None and direction(video) == "sendonly"
        assert codec_names(video)[0] == codec
        assert set(codec_names(video)) <= set(offered)

        audio = section(answer, "audio")
        if camera_audio:
            assert audio is not None and direction(audio) == "sendrecv"
            assert client.remote_track_kinds == ["video", "audio"]
            assert client.wait_for_audio_frames(3, FRAME_TIMEOUT) >= 3
        else:
            if offer_audio:
                assert audio is not None and direction(audio) == "inactive"
            else:
                assert audio is None
            assert client.remote_track_kinds == ["video"]
            assert client.audio_frames_received == 0
    finally:
        host.close(session_id)


def test_offer_and_answer_carry_every_candidate_on_loopback(
    host: WebRTCPeerHost, client: EchoShowClient
) -> None:
    session_id = next(_session_ids)
    offer = client.create_offer()
    answer = host.answer(session_id, offer, Camera(True))
    try:
        for sdp in (offer, answer):
            assert "trickle" not in sdp
            for lines in media_sections(sdp):
                candidates = [line for line in lines if line.startswith("a=candidate:")]
                assert candidates, f"{lines[0]} has no candidate"
                assert all(" 127.0.0.1 " in line for line in candidates)
                assert "a=end-of-candidates" in lines
    finally:
        host.close(session_id)


def test_close_stops_frames(host: WebRTCPeerHost, client: EchoShowClient) -> None:
    session_id = next(_session_ids)
    signal = lambda offer: host.answer(session_id, offer, Camera(False))  # noqa: E731 - the signalling hop
    assert client.run_session(signal, frames=FRAMES, timeout=FRAME_TIMEOUT) >= FRAMES
    assert session_id in host.active_sessions()

    assert host.close(session_id) is True
    assert session_id not in host.active_sessions()
    assert wait_until(lambda: client.connection_state == "closed", 3.0)
    frames_after_close = client.video_frames_received
    time.sleep(0.7)  # at 15 fps a live session would deliver ~10 more frames
    assert client.video_frames_received == frames_after_close
    assert host.close(session_id) is False


def test_unknown_session_ids_are_a_no_op(host: WebRTCPeerHost) -> None:
    assert host.close("no-such-session") is False
    assert host.connected("no-such-session") is False


# --- expiry and shutdown --------------------------------------------------------------------


def test_unconnected_sessions_idle_out_and_connected_ones_end_at_max_duration() -> None:
    idle_timeout, max_duration = 0.4, 1.6
    with (
        WebRTCPeerHost(idle_timeout=idle_timeout, max_duration=max_duration, sweep_interval=0.05) as host,
        EchoShowClient() as silent,
        EchoShowClient() as watching,
    ):
        started = time.monotonic()
        silent.apply_answer(host.answer("silent", silent.create_offer(audio=False), Camera(False)))
        watching.apply_answer(host.answer("watching", watching.create_offer(audio=False), Camera(False)))
        assert host.connected("watching") is True

        assert wait_until(lambda: host.active_sessions() == ["watching"], max_duration - 0.3)
        assert time.monotonic() - started >= idle_timeout

        assert wait_until(lambda: host.active_sessions() == [], max_duration + 2.0)
        assert time.monotonic() - started >= max_duration
        assert wait_until(lambda: watching.connection_state == "closed", 3.0)


def test_shutdown_closes_sessions_and_refuses_further_calls(client: EchoShowClient) -> None:
    host = WebRTCPeerHost()
    client.apply_answer(host.answer("s", client.create_offer(audio=False), Camera(False)))
    assert client.wait_for_frames(1, FRAME_TIMEOUT) >= 1

    host.shutdown()
    assert wait_until(lambda: client.connection_state == "closed", 3.0)
    with pytest.raises(PeerHostClosedError):
        host.active_sessions()
    with pytest.raises(PeerHostClosedError):
        host.answer("t", "v=0\r\n", Camera(False))
    host.shutdown()  # idempotent


# --- offers that are refused ----------------------------------------------------------------

REJECTED_OFFERS = [
    # how the good offer is spoiled, expected error, words the message must contain
    pytest.param(
        lambda sdp: edit_section(sdp, "video", rename_video_codecs),
        UnsupportedOfferError,
        "H265",
        id="only-unsupported-video-codec",
    ),
    pytest.param(
        lambda sdp: edit_section(sdp, "video", drop_section), UnsupportedOfferError, "no video", id="no-video"
    ),
    pytest.param(
        lambda sdp: edit_section(sdp, "video", set_direction("sendonly")),
        UnsupportedOfferError,
        "receive video",
        id="video-not-wanted",
    ),
    pytest.param(lambda sdp: sdp[: len(sdp) // 3], InvalidOfferError, "section has no", id="truncated"),
    pytest.param(lambda sdp: "hello", InvalidOfferError, "not an SDP", id="not-sdp"),
]


@pytest.mark.parametrize(("spoil", "error", "reason"), REJECTED_OFFERS)
def test_unservable_offers_are_refused_cleanly(
    host: WebRTCPeerHost,
    client: EchoShowClient,
    spoil: Callable[[str], str],
    error: type[WebRTCPeerError],
    reason: str,
) -> None:
    before = host.active_sessions()
    with pytest.raises(error) as refused:
        host.answer(next(_session_ids), spoil(client.create_offer()), Camera(True))
    assert reason in str(refused.value)
    assert isinstance(refused.value, ValueError)  # the reference ACCloud server answers 400 for these
    assert "a=" not in str(refused.value)  # no SDP in messages
    assert host.active_sessions() == before


def test_capacity_is_capped_and_a_repeated_offer_replaces_its_session(client: EchoShowClient) -> None:
    offer = client.create_offer(audio=False)
    with WebRTCPeerHost(max_sessions=1) as host:
        first_answer = host.answer("one", offer, Camera(False))
        with pytest.raises(PeerCapacityError):
            host.answer("two", offer, Camera(False))
        assert host.answer("one", offer, Camera(False)) != first_answer  # a fresh peer connection
        assert host.active_sessions() == ["one"]


def test_answer_timeout_leaves_no_session(client: EchoShowClient) -> None:
    # Negotiation awaits socket setup and candidate gathering, which cannot finish in 0.1 ms.
    with WebRTCPeerHost(answer_timeout=0.0001) as host:
        with pytest.raises(AnswerTimeoutError):
            host.answer("slow", client.create_offer(), Camera(True))
        assert host.active_sessions() == []


# --- picture size and test pattern ----------------------------------------------------------

SIZE_CASES = [
    pytest.param(Camera(False, (1920, 1080)), (640, 360), id="1080p-capped"),
    pytest.param(Camera(False, (1280, 960)), (480, 360), id="4:3-capped-keeps-aspect"),
    pytest.param(Camera(False, (320, 240)), (320, 240), id="small-kept"),
    pytest.param(Camera(False, (321, 241)), (320, 240), id="odd-made-even"),
    pytest.param(Camera(False), (640, 360), id="no-size-default"),
    pytest.param(
        AccloudJsonDevice(
            [
                {"protocol": "RTSP", "width": 1920, "height": 1080},
                {"protocol": "WEBRTC", "width": 1280, "height": 720},
            ]
        ),
        (640, 360),
        id="accloud-json-profiles",
    ),
    pytest.param(
        Device(
            id="dev_1", name="n", kind="camera", model="m", firmware="f", online=True, privacy_mode=False,
            profiles=(StreamProfile("WEBRTC", 480, 270, "H264", "NONE"),),
        ),
        (480, 270),
        id="contract-device-profiles",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("device", "expected"), SIZE_CASES)
def test_video_size_follows_device_within_cap(device: object, expected: tuple[int, int]) -> None:
    assert video_size_for(device) == expected


def test_colour_bars_move_between_frames() -> None:
    track = ColourBarsVideoTrack(64, 16)
    first, second = (bytes(track.render(i).planes[0]) for i in (0, 1))
    assert first != second
    assert len(set(first)) == 8  # all eight bars are drawn
