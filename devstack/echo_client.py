"""Plays the Echo Show in local WebRTC sessions (development only).

`EchoShowClient` makes the offer an Alexa device would (video to receive, H264 preferred; a
two-way audio section with a microphone track), applies the camera's answer and counts the
decoded frames it receives, so tests and the demo can prove that a signalled session really
streams. Like the camera side, ICE is loopback only and there are no STUN/TURN servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from devstack.webrtc_peer import (
    BackgroundLoop,
    ToneAudioTrack,
    peer_configuration,
    restrict_ice_to_loopback,
)

# Alexa devices offer H264 first; VP8 is what aiortc and browsers fall back to.
DEFAULT_VIDEO_CODECS = ("H264", "VP8")


def video_codec_preferences(names: Sequence[str]) -> list[RTCRtpCodecCapability]:
    """aiortc capabilities for `names`, in that order, followed by RTX (retransmission)."""
    supported = RTCRtpReceiver.getCapabilities("video")
    capabilities = supported.codecs if supported is not None else []
    preferences: list[RTCRtpCodecCapability] = []
    for name in names:
        matching = [c for c in capabilities if c.mimeType.lower() == f"video/{name.lower()}"]
        if not matching:
            raise ValueError(f"aiortc cannot offer video codec {name!r}")
        preferences += matching
    return preferences + [c for c in capabilities if c.mimeType.lower() == "video/rtx"]


class EchoShowClient:
    """One viewer session; every public method blocks the caller while its own loop thread works."""

    def __init__(self, *, operation_timeout: float = 10.0) -> None:
        self.operation_timeout = operation_timeout
        self._loop = BackgroundLoop("echo-show-client")
        self._pc: RTCPeerConnection | None = None
        self._local_tracks: list[MediaStreamTrack] = []
        self._readers: list[asyncio.Task[None]] = []
        self._progress = threading.Condition()
        self._frames = {"video": 0, "audio": 0}
        self._remote_kinds: list[str] = []
        self._last_video_size: tuple[int, int] | None = None
        self._closed = False

    # what was received --------------------------------------------------------------------

    @property
    def video_frames_received(self) -> int:
        with self._progress:
            return self._frames["video"]

    @property
    def audio_frames_received(self) -> int:
        with self._progress:
            return self._frames["audio"]

    @property
    def remote_track_kinds(self) -> list[str]:
        """Kinds of the tracks the answer lets the camera send, in the order they appeared."""
        with self._progress:
            return list(self._remote_kinds)

    @property
    def last_video_size(self) -> tuple[int, int] | None:
        with self._progress:
            return self._last_video_size

    @property
    def connection_state(self) -> str:
        return self._pc.connectionState if self._pc is not None else "new"

    # signalling ---------------------------------------------------------------------------

    def create_offer(self, audio: bool = True, video_codecs: Sequence[str] = DEFAULT_VIDEO_CODECS) -> str:
        """The complete offer SDP (all candidates gathered): recvonly video, sendrecv audio if `audio`."""
        if self._pc is not None:
            raise RuntimeError("an EchoShowClient makes one offer; use a new client per session")
        preferences = video_codec_preferences(video_codecs)
        return self._loop.call(self._create_offer(audio, preferences), self.operation_timeout)

    def apply_answer(self, answer_sdp: str) -> None:
        if self._pc is None:
            raise RuntimeError("create_offer() first")
        self._loop.call(
            self._pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer")),
            self.operation_timeout,
        )

    def wait_for_frames(self, n: int, timeout: float) -> int:
        """Wait until `n` decoded video frames arrived or `timeout` s passed; the count so far."""
        with self._progress:
            self._progress.wait_for(lambda: self._frames["video"] >= n, timeout)
            return self._frames["video"]

    def wait_for_audio_frames(self, n: int, timeout: float) -> int:
        with self._progress:
            self._progress.wait_for(lambda: self._frames["audio"] >= n, timeout)
            return self._frames["audio"]

    def run_session(self, signal: Callable[[str], str], frames: int = 10, timeout: float = 10.0) -> int:
        """Offer → `signal(offer)` returns the answer → apply it → decoded video frames within `timeout`."""
        answer_sdp = signal(self.create_offer())
        self.apply_answer(answer_sdp)
        return self.wait_for_frames(frames, timeout)

    def close(self) -> None:
        """Close the peer connection and stop the loop thread; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._loop.call(self._close(), self.operation_timeout)
        self._loop.stop()

    def __enter__(self) -> EchoShowClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # on the loop --------------------------------------------------------------------------

    async def _create_offer(self, audio: bool, preferences: list[RTCRtpCodecCapability]) -> str:
        pc = RTCPeerConnection(peer_configuration())
        self._pc = pc
        pc.on("track", self._on_track)
        video = pc.addTransceiver("video", direction="recvonly")
        video.setCodecPreferences(preferences)
        if audio:
            microphone = ToneAudioTrack(frequency_hz=600)
            self._local_tracks.append(microphone)
            pc.addTransceiver(microphone, direction="sendrecv")
        restrict_ice_to_loopback(pc)
        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate first
        return pc.localDescription.sdp

    def _on_track(self, track: MediaStreamTrack) -> None:
        with self._progress:
            self._remote_kinds.append(track.kind)
        self._readers.append(asyncio.ensure_future(self._count_frames(track)))

    async def _count_frames(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                with self._progress:
                    self._frames[track.kind] += 1
                    if isinstance(frame, av.VideoFrame):
                        self._last_video_size = (frame.width, frame.height)
                    self._progress.notify_all()

    async def _close(self) -> None:
        for track in self._local_tracks:
            track.stop()
        for reader in self._readers:
            reader.cancel()
        if self._pc is not None:
            await self._pc.close()
