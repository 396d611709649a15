"""The camera side of a real WebRTC session, for the reference ACCloud server (development only).

`WebRTCPeerHost` answers Alexa-style SDP offers with an aiortc peer: full ICE without trickle,
loopback candidates only, codecs from the offer only, bounded cost. Nothing here logs SDP or
session ids. Details: docs/local-stack.md, "WebRTC camera peer".
"""

from __future__ import annotations

import array
import asyncio
import concurrent.futures
import contextlib
import fractions
import logging
import math
import re
import threading
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.exceptions import OperationError
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import SessionDescription

if TYPE_CHECKING:
    from aioice import Candidate

logger = logging.getLogger(__name__)

T = TypeVar("T")

LOOPBACK_ADDRESS = "127.0.0.1"
DEFAULT_VIDEO_SIZE = (640, 360)
MAX_VIDEO_SIZE = (640, 360)
DEFAULT_FPS = 15
VIDEO_CLOCK_RATE = 90_000
_CODEC_NAME = re.compile(r"[A-Z0-9.\-]{1,16}")


# --- failures -------------------------------------------------------------------------------


class WebRTCPeerError(Exception):
    """Base of every failure of the local WebRTC peer. Messages never contain SDP or session ids."""


class InvalidOfferError(WebRTCPeerError, ValueError):
    """The offer is not a parseable, complete SDP offer (the caller's fault: a ValueError)."""


class UnsupportedOfferError(WebRTCPeerError, ValueError):
    """The offer proposes nothing this camera can send (no video section or no supported codec)."""


class AnswerTimeoutError(WebRTCPeerError, TimeoutError):
    """Negotiation and ICE gathering did not finish within the answer timeout."""


class PeerCapacityError(WebRTCPeerError):
    """The host already runs its maximum number of sessions."""


class PeerHostClosedError(WebRTCPeerError):
    """The host has been shut down."""


# --- event loop in a thread -----------------------------------------------------------------


class BackgroundLoop:
    """An asyncio event loop in a daemon thread; other threads run coroutines on it and block."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopped = False
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
            # Let whatever aiortc left behind (timers, transports) wind down before closing.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
        finally:
            self._loop.close()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait for its result; raises TimeoutError after `timeout` s."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BackgroundLoop.call() from its own loop thread would deadlock")
        if self._stopped:
            coro.close()
            raise RuntimeError("the background loop has stopped")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)


# --- ICE: loopback only ---------------------------------------------------------------------


def restrict_ice_to_loopback(pc: RTCPeerConnection) -> None:
    """Make every ICE gatherer of `pc` offer exactly one host candidate, on 127.0.0.1.

    Why: aioice gathers a host candidate on every interface *except* loopback and binds a UDP
    socket on each, while the project binds 127.0.0.1 only (and a sandbox may have no other
    interface, leaving no candidate at all). aiortc has no setting for this, so each gatherer's
    aioice Connection gets its candidate gathering wrapped to use 127.0.0.1 as the only address.
    Relies on aiortc 1.16 / aioice 0.13 internals (`RTCIceGatherer._connection`,
    `Connection.get_component_candidates`); fails loudly if they change.

    Call it after every transceiver exists and before `setLocalDescription` (which gathers).
    """
    gatherers = {
        id(t.receiver.transport.transport.iceGatherer): t.receiver.transport.transport.iceGatherer
        for t in pc.getTransceivers()
    }
    if pc.sctp is not None:
        gatherer = pc.sctp.transport.transport.iceGatherer
        gatherers[id(gatherer)] = gatherer
    for gatherer in gatherers.values():
        connection = getattr(gatherer, "_connection", None)
        gather = getattr(connection, "get_component_candidates", None)
        if connection is None or gather is None:
            raise RuntimeError("aiortc internals changed: cannot restrict ICE gathering to loopback")
        if getattr(gather, "_loopback_only", False):
            continue
        connection.get_component_candidates = _loopback_only(gather)


def _loopback_only(gather: Any) -> Any:
    async def gather_on_loopback(component: int, addresses: list[str], timeout: int = 5) -> list[Candidate]:
        return await gather(component=component, addresses=[LOOPBACK_ADDRESS], timeout=timeout)

    gather_on_loopback._loopback_only = True  # type: ignore[attr-defined]
    return gather_on_loopback


def peer_configuration() -> RTCConfiguration:
    """No ICE servers: aiortc's default would contact a public STUN server (no internet here)."""
    return RTCConfiguration(iceServers=[])


# --- media ----------------------------------------------------------------------------------

# Eight colour bars in BT.601 limited-range YUV: white, yellow, cyan, green, magenta, red, blue, black.
_BARS_YUV = (
    (235, 128, 128),
    (210, 16, 146),
    (170, 166, 16),
    (145, 54, 34),
    (106, 202, 222),
    (81, 90, 240),
    (41, 240, 110),
    (16, 128, 128),
)


class ColourBarsVideoTrack(MediaStreamTrack):
    """Colour bars scrolling sideways, built plane by plane with PyAV (no numpy in the venv)."""

    kind = "video"

    def __init__(self, width: int, height: int, fps: int = DEFAULT_FPS) -> None:
        super().__init__()
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise ValueError("video size must be even and at least 2x2 (yuv420p)")
        self.width, self.height, self.fps = width, height, fps
        chroma_width = width // 2
        self._rows = (
            bytes(_BARS_YUV[x * len(_BARS_YUV) // width][0] for x in range(width)),
            bytes(_BARS_YUV[x * len(_BARS_YUV) // chroma_width][1] for x in range(chroma_width)),
            bytes(_BARS_YUV[x * len(_BARS_YUV) // chroma_width][2] for x in range(chroma_width)),
        )
        self._frame_index = 0
        self._started_at: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = self._frame_index
        self._frame_index += 1
        now = time.monotonic()
        if self._started_at is None:
            self._started_at = now
        delay = self._started_at + index / self.fps - now
        if delay > 0:
            await asyncio.sleep(delay)
        frame = self.render(index)
        frame.pts = index * VIDEO_CLOCK_RATE // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        return frame

    def render(self, index: int) -> av.VideoFrame:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        luma_shift = (index * 4) % self.width
        for plane_index, (plane, row) in enumerate(zip(frame.planes, self._rows, strict=True)):
            shift = luma_shift if plane_index == 0 else luma_shift // 2
            shifted = row[shift:] + row[:shift]
            padded = shifted + bytes(plane.line_size - len(shifted))
            plane.update(padded * (plane.buffer_size // plane.line_size))
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A quiet 400 Hz tone, 48 kHz mono in 20 ms frames (8 whole periods, so one frame loops)."""

    kind = "audio"
    sample_rate = 48_000
    samples_per_frame = 960

    def __init__(self, frequency_hz: int = 400, amplitude: int = 3000) -> None:
        super().__init__()
        samples = array.array(
            "h",
            (
                round(amplitude * math.sin(2 * math.pi * frequency_hz * i / self.sample_rate))
                for i in range(self.samples_per_frame)
            ),
        )
        self._pcm = samples.tobytes()
        self._frame_index = 0
        self._started_at: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = self._frame_index
        self._frame_index += 1
        now = time.monotonic()
        if self._started_at is None:
            self._started_at = now
        delay = self._started_at + index * self.samples_per_frame / self.sample_rate - now
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples_per_frame)
        frame.planes[0].update(self._pcm)
        frame.sample_rate = self.sample_rate
        frame.pts = index * self.samples_per_frame
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        return frame


async def discard_media(track: MediaStreamTrack) -> None:
    """Read and drop a remote track: aiortc queues received frames without bound otherwise."""
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


# --- offer checks and device size -----------------------------------------------------------


def supported_video_codecs() -> frozenset[str]:
    return frozenset(
        c.mimeType.split("/", 1)[1].upper()
        for c in RTCRtpSender.getCapabilities("video").codecs
        if not c.mimeType.lower().endswith("/rtx")
    )


def check_offer(offer_sdp: str) -> None:
    """Refuse offers the camera cannot serve, with a reason that names codecs, never SDP content."""
    if not isinstance(offer_sdp, str) or not offer_sdp.startswith("v=0"):
        raise InvalidOfferError("offer is not an SDP document")
    try:
        description = SessionDescription.parse(offer_sdp)
    except Exception as exc:  # aiortc's parser raises assorted ValueError/IndexError/KeyError
        raise InvalidOfferError(f"offer SDP cannot be parsed ({type(exc).__name__})") from None
    for media in description.media:
        # aiortc dereferences these unchecked; a clear refusal beats an AttributeError later.
        if media.port != 0 and (
            media.ice is None or media.ice.usernameFragment is None or media.ice.password is None
        ):
            raise InvalidOfferError(f"offer {media.kind} section has no ICE credentials")
        if media.port != 0 and (media.dtls is None or not media.dtls.fingerprints):
            raise InvalidOfferError(f"offer {media.kind} section has no DTLS fingerprint")
    video_sections = [m for m in description.media if m.kind == "video" and m.port != 0]
    if not video_sections:
        raise UnsupportedOfferError("offer has no video section")
    video = video_sections[0]
    if video.direction not in (None, "recvonly", "sendrecv"):
        raise UnsupportedOfferError("offer does not ask to receive video")
    offered = sorted({c.mimeType.split("/", 1)[1].upper() for c in video.rtp.codecs} - {"RTX"})
    # Codec names come from the caller's text: only well-formed ones may reach an error message.
    offered = [name if _CODEC_NAME.fullmatch(name) else "?" for name in offered]
    if not set(offered) & supported_video_codecs():
        raise UnsupportedOfferError(
            f"offer proposes no supported video codec (offered: {', '.join(offered) or 'none'}; "
            f"supported: {', '.join(sorted(supported_video_codecs()))})"
        )


def video_size_for(device: object, cap: tuple[int, int] = MAX_VIDEO_SIZE) -> tuple[int, int]:
    """The test pattern's size: the device's WebRTC resolution, scaled down to fit `cap`, even sides."""
    size = _as_size(getattr(device, "webrtc_resolution", None))
    if size is None:
        size = _size_from_profiles(
            getattr(device, "stream_profiles", None) or getattr(device, "profiles", None)
        )
    if size is None:
        return DEFAULT_VIDEO_SIZE
    width, height = size
    scale = min(1.0, cap[0] / width, cap[1] / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _as_size(value: object) -> tuple[int, int] | None:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        width, height = value
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            return width, height
    return None


def _size_from_profiles(profiles: object) -> tuple[int, int] | None:
    """First WEBRTC profile's size; profiles may be dicts (ACCloud JSON) or objects (contract types)."""
    if not isinstance(profiles, Iterable):
        return None

    def read(profile: object, key: str) -> object:
        return profile.get(key) if isinstance(profile, dict) else getattr(profile, key, None)

    for profile in profiles:
        if read(profile, "protocol") == "WEBRTC":
            size = _as_size((read(profile, "width"), read(profile, "height")))
            if size is not None:
                return size
    return None


# --- the host -------------------------------------------------------------------------------


@dataclass
class _Session:
    pc: RTCPeerConnection
    created_at: float
    connected_at: float | None = None
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    sinks: list[asyncio.Task[None]] = field(default_factory=list)


class WebRTCPeerHost:
    """Answers WebRTC offers for the reference ACCloud server; every public method is thread-safe.

    Methods block the calling (HTTP handler) thread while the work runs on the host's own event
    loop thread, so aiortc objects are only ever touched from that one thread.
    """

    def __init__(
        self,
        *,
        answer_timeout: float = 5.0,
        idle_timeout: float = 30.0,
        max_duration: float = 600.0,
        max_sessions: int = 8,
        max_video_size: tuple[int, int] = MAX_VIDEO_SIZE,
        fps: int = DEFAULT_FPS,
        sweep_interval: float | None = None,
    ) -> None:
        self.answer_timeout = answer_timeout
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self.max_sessions = max_sessions
        self.max_video_size = max_video_size
        self.fps = fps
        self._sweep_interval = sweep_interval or max(0.05, min(1.0, idle_timeout / 4))
        self._sessions: dict[str, _Session] = {}
        self._negotiating = 0
        self._closed = False
        self._background_tasks: set[asyncio.Future[bool]] = set()
        self._loop = BackgroundLoop("webrtc-peer-host")
        self._sweeper: asyncio.Task[None] = self._loop.call(self._start_sweeper(), 5.0)

    # public, blocking ---------------------------------------------------------------------

    def answer(self, session_id: str, offer_sdp: str, device: object) -> str:
        """Answer `offer_sdp` for `device`; returns an answer SDP holding every ICE candidate.

        An existing session with the same id is closed and replaced (a repeated offer).
        Raises InvalidOfferError, UnsupportedOfferError, AnswerTimeoutError, PeerCapacityError.
        """
        if self._closed:
            raise PeerHostClosedError("the WebRTC peer host has been shut down")
        # Read the device here, in the caller's thread: the loop never touches caller objects.
        two_way_audio = bool(getattr(device, "two_way_audio", False))
        size = video_size_for(device, self.max_video_size)
        check_offer(offer_sdp)
        try:
            return self._call(
                self._answer(session_id, offer_sdp, two_way_audio, size), self.answer_timeout + 2.0
            )
        except TimeoutError as exc:
            if isinstance(exc, AnswerTimeoutError):
                raise
            raise AnswerTimeoutError("the peer host did not answer in time") from None

    def connected(self, session_id: str) -> bool:
        """Record that Alexa reported the session connected; False for an unknown id."""
        return self._call(self._mark_connected(session_id), 5.0)

    def close(self, session_id: str) -> bool:
        """Close one session's peer connection and tracks; False for an unknown id."""
        return self._call(self._close_session(session_id), 10.0)

    def active_sessions(self) -> list[str]:
        return self._call(self._list_sessions(), 5.0)

    def shutdown(self) -> None:
        """Close every session and stop the loop thread; later calls raise PeerHostClosedError."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._loop.call(self._close_all(), 10.0)
        self._loop.stop()

    def __enter__(self) -> WebRTCPeerHost:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._closed:
            coro.close()
            raise PeerHostClosedError("the WebRTC peer host has been shut down")
        return self._loop.call(coro, timeout)

    # on the loop --------------------------------------------------------------------------

    async def _answer(
        self, session_id: str, offer_sdp: str, two_way_audio: bool, size: tuple[int, int]
    ) -> str:
        if session_id in self._sessions:
            await self._close_session(session_id)
        # Negotiations in flight count too: concurrent offers must not overshoot the cap.
        if len(self._sessions) + self._negotiating >= self.max_sessions:
            raise PeerCapacityError(f"the peer host already runs {self.max_sessions} sessions")
        session = _Session(pc=RTCPeerConnection(peer_configuration()), created_at=time.monotonic())
        self._negotiating += 1
        try:
            answer_sdp = await asyncio.wait_for(
                self._negotiate(session, offer_sdp, two_way_audio, size), self.answer_timeout
            )
        except TimeoutError:
            await _dispose(session)
            raise AnswerTimeoutError(f"no answer within {self.answer_timeout:g} s") from None
        except BaseException:
            await _dispose(session)
            raise
        finally:
            self._negotiating -= 1
        # A concurrent offer with the same id may have finished first: the later one wins.
        await self._close_session(session_id)
        self._sessions[session_id] = session
        session.pc.on("connectionstatechange", lambda: self._on_state_change(session_id, session))
        logger.info("webrtc session answered (active=%d)", len(self._sessions))
        return answer_sdp

    async def _negotiate(
        self, session: _Session, offer_sdp: str, two_way_audio: bool, size: tuple[int, int]
    ) -> str:
        pc = session.pc
        pc.on("track", lambda track: session.sinks.append(asyncio.ensure_future(discard_media(track))))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except OperationError:
            # aiortc found no common codec for some section (video was pre-checked, so audio).
            raise UnsupportedOfferError("offer proposes no supported audio codec") from None
        except (ValueError, AttributeError, KeyError, IndexError, TypeError) as exc:
            # aiortc validates some malformed offers only by failing on them.
            raise InvalidOfferError(f"offer rejected ({type(exc).__name__})") from None

        video = ColourBarsVideoTrack(*size, fps=self.fps)
        session.tracks.append(video)
        pc.addTrack(video)
        audio_added = False
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                # A camera only sends video; never accept (and decode) video from the Echo.
                transceiver.direction = "sendonly" if transceiver.sender.track is video else "inactive"
            elif transceiver.kind == "audio":
                if two_way_audio and not audio_added:
                    tone = ToneAudioTrack()
                    session.tracks.append(tone)
                    transceiver.sender.replaceTrack(tone)
                    transceiver.direction = "sendrecv"
                    audio_added = True
                else:
                    transceiver.direction = "inactive"

        restrict_ice_to_loopback(pc)
        await pc.setLocalDescription(await pc.createAnswer())  # gathers every candidate first
        return pc.localDescription.sdp

    def _on_state_change(self, session_id: str, session: _Session) -> None:
        if session.pc.connectionState == "failed" and self._sessions.get(session_id) is session:
            task = asyncio.ensure_future(self._close_session(session_id))
            self._background_tasks.add(task)  # keep a reference until done (asyncio holds weak ones)
            task.add_done_callback(self._background_tasks.discard)

    async def _mark_connected(self, session_id: str) -> bool:
        session = self._sessions.get(session_id)
        if session is None:
            return False
        if session.connected_at is None:
            session.connected_at = time.monotonic()
        return True

    async def _close_session(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        await _dispose(session)
        logger.info("webrtc session closed (active=%d)", len(self._sessions))
        return True

    async def _list_sessions(self) -> list[str]:
        return sorted(self._sessions)

    async def _close_all(self) -> None:
        self._sweeper.cancel()
        for session_id in list(self._sessions):
            await self._close_session(session_id)

    async def _start_sweeper(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            now = time.monotonic()
            expired = [
                session_id
                for session_id, session in self._sessions.items()
                if now - session.created_at > self.max_duration
                or (session.connected_at is None and now - session.created_at > self.idle_timeout)
            ]
            for session_id in expired:
                logger.info("webrtc session expired (never connected or over max duration)")
                await self._close_session(session_id)


async def _dispose(session: _Session) -> None:
    for track in session.tracks:
        track.stop()
    for sink in session.sinks:
        sink.cancel()
    await session.pc.close()
